"""Records that can never be applied, on the real broker and database: each
reaches the dead-letter topic with its reason, at the first attempt, and the
partition moves on to the next record (issue 9, items 1, 2, 3 and 5)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections import Counter

import pytest
from aiokafka import ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from gov_contracts import topics
from gov_contracts.errors import InvalidInput
from govkit import metrics
from govkit.consumer import EventConsumer
from govkit.dead_letters import record_size
from govkit.kafka import MAX_REQUEST_SIZE, Producer

from .conftest import ThingHappened, end_offsets, read_topic
from .kafka_helpers import ce_headers, committed_offset, eventually, publish_raw, running

TYPE = "gov.test.thing_happened.v1"


@pytest.fixture
async def applied(cases_pool):
    table = f"applied_{uuid.uuid4().hex[:8]}"
    await cases_pool.execute(f"create table {table} (event_id text, thing_id text, seq int)")
    yield table


@pytest.fixture
async def producer(stack):
    p = Producer(stack.bootstrap, "test-poison")
    yield p
    await p.stop()


def inserting(table):
    async def handler(con, event, env):
        await con.execute(
            f"insert into {table} (event_id, thing_id, seq) values ($1, $2, $3)", env.id, event.thing_id, event.seq
        )

    return handler


def consumer(pool, producer, topic, handler, **kw) -> EventConsumer:
    return EventConsumer(
        service="test",
        group_id=f"poison-{uuid.uuid4().hex[:8]}",
        topics=[topic],
        pool=pool,
        producer=producer,
        handlers={TYPE: handler},
        max_backoff=0.2,
        **kw,
    )


def good(thing: str = "good") -> bytes:
    return ThingHappened(thing_id=thing, seq=1).model_dump_json().encode()


async def has_rows(pool, table, n) -> bool:
    return await pool.fetchval(f"select count(*) from {table}") >= n


async def dead_letters_of(stack, topic: str, start: dict, expect: int) -> dict[int, ConsumerRecord]:
    """The dead letters written for records of `topic` since `start`, by original offset."""
    records = await read_topic(stack.bootstrap, topics.DEADLETTER, expect=expect, start=start, timeout=15)
    out = {}
    for r in records:
        h = dict(r.headers)
        if h.get("dlq_topic") == topic.encode():
            out[int(h["dlq_offset"])] = r
    return out


async def poison_then_good(stack, topic: str, value: bytes, headers, key: bytes = b"k"):
    """The poison record, then a good one behind it on the same partition."""
    bad = await publish_raw(stack.bootstrap, topic, value, key=key, headers=headers)
    ok = await publish_raw(stack.bootstrap, topic, good(), key=key, headers=ce_headers(TYPE, subject=key.decode()))
    assert bad.partition == ok.partition
    return bad, ok


async def moved_on(stack, c: EventConsumer, topic: str, ok) -> bool:
    return await committed_offset(stack.bootstrap, c.group_id, topic, ok.partition) == ok.offset + 1


def near_max_value(key: bytes, headers) -> bytes:
    """A schema-violating value (seq -1) as large as the producer can send with these headers."""
    shell = {"thing_id": "big", "seq": -1, "note": ""}
    base = record_size(key, json.dumps(shell).encode(), headers)
    shell["note"] = "x" * (MAX_REQUEST_SIZE - base - 16)
    value = json.dumps(shell).encode()
    assert MAX_REQUEST_SIZE - 32 < record_size(key, value, headers) <= MAX_REQUEST_SIZE
    return value


async def test_a_record_near_1_mib_is_dead_lettered_truncated_and_the_partition_moves_on(
    stack, test_topic, cases_pool, producer, applied
):
    headers = ce_headers(TYPE, subject="k")
    value = near_max_value(b"k", headers)
    dlq_start = await end_offsets(stack.bootstrap, topics.DEADLETTER)
    bad, ok = await poison_then_good(stack, test_topic, value, headers)
    c = consumer(cases_pool, producer, test_topic, inserting(applied))

    async with running(stack.bootstrap, c):
        await eventually(lambda: has_rows(cases_pool, applied, 1), timeout=40)
        await eventually(lambda: moved_on(stack, c, test_topic, ok), timeout=20)

    letter = (await dead_letters_of(stack, test_topic, dlq_start, expect=1))[bad.offset]
    h = dict(letter.headers)
    assert h["dlq_reason"] == b"schema_violation" and h["dlq_truncated"] == b"true"
    assert int(h["dlq_original_size"]) == len(value)
    assert h["dlq_original_sha256"].decode() == hashlib.sha256(value).hexdigest()
    assert (h["dlq_partition"], h["dlq_offset"]) == (str(bad.partition).encode(), str(bad.offset).encode())
    assert h["ce_id"] == dict(headers)["ce_id"] and letter.key == b"k"
    assert 0 < len(letter.value) < len(value) and value.startswith(letter.value)
    assert record_size(letter.key, letter.value, letter.headers) <= MAX_REQUEST_SIZE


async def test_a_dead_letter_the_broker_refuses_as_too_large_is_stored_smaller(
    stack, test_topic, cases_pool, producer, applied
):
    """The dead-letter topic takes less than the producer may send (max.message.bytes 32 KiB):
    the broker's refusal is not retried as it is; the dead letter is cut to fit."""
    headers = ce_headers(TYPE, subject="k")
    value = json.dumps({"thing_id": "mid", "seq": -1, "note": "y" * 200_000}).encode()
    dlq_start = await end_offsets(stack.bootstrap, topics.DEADLETTER)
    bad, ok = await poison_then_good(stack, test_topic, value, headers)
    c = consumer(cases_pool, producer, test_topic, inserting(applied))
    await _dead_letter_topic_config({"retention.ms": "-1", "max.message.bytes": "32768"}, stack.bootstrap)
    try:
        async with running(stack.bootstrap, c):
            await eventually(lambda: has_rows(cases_pool, applied, 1), timeout=40)
    finally:
        await _dead_letter_topic_config({"retention.ms": "-1"}, stack.bootstrap)

    letter = (await dead_letters_of(stack, test_topic, dlq_start, expect=1))[bad.offset]
    h = dict(letter.headers)
    assert h["dlq_truncated"] == b"true" and int(h["dlq_original_size"]) == len(value)
    assert record_size(letter.key, letter.value, letter.headers) <= 32768
    assert value.startswith(letter.value) and len(letter.value) > 1000


async def _dead_letter_topic_config(configs: dict, bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:  # AlterConfigs replaces the topic's settings: `configs` must hold all of them
        for response in await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topics.DEADLETTER, configs)]
        ):
            assert all(r[0] == 0 for r in response.resources), response
    finally:
        await admin.close()


async def test_a_dead_letter_waits_out_a_broker_outage(stack, test_topic, cases_pool, producer):
    c = consumer(cases_pool, producer, test_topic, inserting("unused"))
    value = b'{"thing_id": "outage", "seq": -1}'
    headers = ce_headers(TYPE, subject="outage")
    record = ConsumerRecord(test_topic, 1, 99_999, 0, 0, b"outage", value, None, 6, len(value), headers)
    failures = metrics.DEAD_LETTER_FAILURES.labels("test", "transient")
    before = failures._value.get()
    dlq_start = await end_offsets(stack.bootstrap, topics.DEADLETTER)
    await asyncio.to_thread(stack.stop_kafka)
    try:
        storing = asyncio.create_task(c.process(record))
        await eventually(lambda: _true(failures._value.get() >= before + 2), timeout=60)
        assert not storing.done()  # not acknowledged, not given up
    finally:
        await asyncio.to_thread(stack.start_kafka)
    assert await asyncio.wait_for(storing, 90) == "dead_lettered"
    letter = (await dead_letters_of(stack, test_topic, dlq_start, expect=1))[99_999]
    assert letter.value == value and dict(letter.headers)["dlq_reason"] == b"schema_violation"


async def test_deeply_nested_json_is_invalid_json_and_the_partition_moves_on(
    stack, test_topic, cases_pool, producer, applied
):
    value = b"[" * 1100 + b"]" * 1100  # json.loads: RecursionError
    dlq_start = await end_offsets(stack.bootstrap, topics.DEADLETTER)
    bad, ok = await poison_then_good(stack, test_topic, value, ce_headers(TYPE, subject="k"))
    c = consumer(cases_pool, producer, test_topic, inserting(applied))

    async with running(stack.bootstrap, c):
        await eventually(lambda: has_rows(cases_pool, applied, 1), timeout=40)
        await eventually(lambda: moved_on(stack, c, test_topic, ok), timeout=20)

    letter = (await dead_letters_of(stack, test_topic, dlq_start, expect=1))[bad.offset]
    h = dict(letter.headers)
    assert h["dlq_reason"] == b"invalid_json" and b"RecursionError" in h["dlq_error"]
    assert letter.value == value and b"dlq_truncated" not in h


async def test_a_header_that_is_not_utf8_is_dead_lettered_as_invalid_envelope_not_dropped(
    stack, test_topic, cases_pool, producer, applied
):
    headers = [(k, b"\xff\xfe" if k == "ce_id" else v) for k, v in ce_headers(TYPE, subject="k")]
    value = good("not-utf8")
    dlq_start = await end_offsets(stack.bootstrap, topics.DEADLETTER)
    bad, ok = await poison_then_good(stack, test_topic, value, headers)
    c = consumer(cases_pool, producer, test_topic, inserting(applied))

    async with running(stack.bootstrap, c):
        await eventually(lambda: has_rows(cases_pool, applied, 1), timeout=40)
        await eventually(lambda: moved_on(stack, c, test_topic, ok), timeout=20)

    assert await cases_pool.fetchval(f"select thing_id from {applied}") == "good"
    letters = await dead_letters_of(stack, test_topic, dlq_start, expect=1)
    assert bad.offset in letters, "the record was dropped without a dead letter"
    letter = letters[bad.offset]
    h = dict(letter.headers)
    assert h["dlq_reason"] == b"invalid_envelope" and b"ce_id" in h["dlq_error"]
    assert h["ce_id"] == b"\xff\xfe"  # the original headers, byte for byte
    assert letter.value == value and letter.key == b"k"


DATA_FAULTS = {  # thing_id: (statement, argument, what the dead letter's error says)
    "int32": ("insert into {t} (n) values ($1)", 3_000_000_000, "out of int32 range"),
    "out_of_range": ("insert into {t} (n) values ($1::bigint)", 3_000_000_000, "integer out of range"),
    "invalid_text": ("insert into {t} (n) values ($1::text::int)", "三", "invalid input syntax for type integer"),
    "ltree_syntax": ("insert into {t} (p) values ($1::text::ltree)", "changping..x", "ltree syntax error"),
    "ltree_end": ("insert into {t} (p) values ($1::text::ltree)", "changping.", "ltree syntax error"),
    "ltree_label": (
        "insert into {t} (p) values ($1::text::ltree)",
        "changping." + "a" * 2000,
        "label string is too long",
    ),
    "too_long": ("insert into {t} (code) values ($1)", "x" * 20, "value too long"),
}


async def test_values_the_database_refuses_are_dead_lettered_at_the_first_attempt(
    stack, test_topic, cases_pool, producer, applied
):
    table = f"typed_{uuid.uuid4().hex[:8]}"
    await cases_pool.execute(f"create table {table} (n int, p ltree, code varchar(8))")
    attempts: Counter[str] = Counter()

    async def handler(con, event, env):
        attempts[event.thing_id] += 1
        if event.thing_id in DATA_FAULTS:
            sql, arg, _ = DATA_FAULTS[event.thing_id]
            await con.execute(sql.format(t=table), arg)
        else:
            await inserting(applied)(con, event, env)

    dlq_start = await end_offsets(stack.bootstrap, topics.DEADLETTER)
    sent = {}
    for thing in DATA_FAULTS:
        sent[thing] = await publish_raw(
            stack.bootstrap, test_topic, good(thing), key=b"k", headers=ce_headers(TYPE, subject="k")
        )
    ok = await publish_raw(stack.bootstrap, test_topic, good(), key=b"k", headers=ce_headers(TYPE, subject="k"))
    c = consumer(cases_pool, producer, test_topic, handler)
    before = metrics.DEAD_LETTERS.labels("test", "data_error")._value.get()

    async with running(stack.bootstrap, c):
        await eventually(lambda: has_rows(cases_pool, applied, 1), timeout=60)

    letters = await dead_letters_of(stack, test_topic, dlq_start, expect=len(DATA_FAULTS))
    for thing, (_, _, says) in DATA_FAULTS.items():
        assert attempts[thing] == 1, f"{thing} was tried {attempts[thing]} times"
        h = dict(letters[sent[thing].offset].headers)
        assert h["dlq_reason"] == b"data_error", (thing, h["dlq_reason"])
        assert says in h["dlq_error"].decode(), (thing, h["dlq_error"])
    assert attempts["good"] == 1 and ok.partition == sent["int32"].partition
    assert metrics.DEAD_LETTERS.labels("test", "data_error")._value.get() == before + len(DATA_FAULTS)


async def _true(v):
    return v


async def test_an_event_the_domain_rejects_is_dead_lettered_as_rejected_at_the_first_attempt(
    stack, test_topic, cases_pool, producer, applied
):
    """A handler's use case refusing the event (gov_contracts.errors) refuses it every time: no retry loop."""
    attempts: Counter[str] = Counter()

    async def handler(con, event, env):
        attempts[event.thing_id] += 1
        if event.thing_id == "refused":
            raise InvalidInput("grid_id", "not a known grid")
        await inserting(applied)(con, event, env)

    dlq_start = await end_offsets(stack.bootstrap, topics.DEADLETTER)
    bad, ok = await poison_then_good(stack, test_topic, good("refused"), ce_headers(TYPE, subject="k"))
    c = consumer(cases_pool, producer, test_topic, handler)
    async with running(stack.bootstrap, c):
        await eventually(lambda: has_rows(cases_pool, applied, 1), timeout=60)
        await eventually(lambda: moved_on(stack, c, test_topic, ok), timeout=30)
    letters = await dead_letters_of(stack, test_topic, dlq_start, expect=1)
    h = dict(letters[bad.offset].headers)
    assert h["dlq_reason"] == b"rejected" and b"grid_id: not a known grid" in h["dlq_error"], h
    assert attempts == {"refused": 1, "good": 1}

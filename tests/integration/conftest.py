from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic import Field

from gov_contracts import registry
from gov_contracts.base import EventModel
from govkit import db

TEST_TOPIC_PREFIX = "gov.test."


class ThingHappened(EventModel):
    """A test-only event type: the platform's mechanisms are proven on it."""

    thing_id: str
    seq: int = Field(ge=0)
    note: str = ""


@pytest.fixture
async def test_topic(stack):
    """A fresh topic and a registered test event type living on it."""
    name = f"{TEST_TOPIC_PREFIX}{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(name, 3, 1)])
    await admin.close()
    et = registry.EventType("gov.test.thing_happened.v1", ThingHappened, name, "tests")
    registry.REGISTRY[et.name] = et
    registry._BY_MODEL[ThingHappened] = et
    yield name
    registry.REGISTRY.pop(et.name, None)
    registry._BY_MODEL.pop(ThingHappened, None)


@pytest.fixture
async def cases_pool(stack):
    pool = await db.create_pool(stack.service_dsn("cases"), "cases", max_size=5)
    yield pool
    await pool.close()


@pytest.fixture
async def cases_con(stack):
    con = await db.connect(stack.service_dsn("cases"), "cases")
    yield con
    await con.close()


async def read_topic(
    bootstrap: str, topic: str, *, expect: int, timeout: float = 20.0, start: dict | None = None
) -> list:
    """Read `expect` records from the topic's beginning (or from `start` offsets), or fail after timeout."""
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await c.start()
    try:
        parts = [TopicPartition(topic, p) for p in (c.partitions_for_topic(topic) or await _parts(c, topic))]
        c.assign(parts)
        for tp in parts:
            if start and tp in start:
                c.seek(tp, start[tp])
            else:
                await c.seek_to_beginning(tp)
        out: list[Any] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(out) < expect and loop.time() < deadline:
            batch = await c.getmany(timeout_ms=300)
            for recs in batch.values():
                out.extend(recs)
        return out
    finally:
        await c.stop()


async def _parts(c, topic):
    await c._client.force_metadata_update()
    return c.partitions_for_topic(topic) or set()


async def end_offsets(bootstrap: str, topic: str) -> dict:
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await c.start()
    try:
        parts = [TopicPartition(topic, p) for p in (await _parts(c, topic))]
        return await c.end_offsets(parts)
    finally:
        await c.stop()


async def group_lag(bootstrap: str, group: str, topics: list[str]) -> int:
    """Records on `topics` the consumer group has not committed yet."""
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await c.start()
    try:
        await c._client.force_metadata_update()
        parts = [TopicPartition(t, p) for t in topics for p in sorted(c.partitions_for_topic(t) or ())]
        end = await c.end_offsets(parts)
        behind = 0
        for tp in parts:
            committed = await c.committed(tp)
            behind += end[tp] - (committed or 0)
        return behind
    finally:
        await c.stop()

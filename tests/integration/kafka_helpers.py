from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka import KafkaBroker

from gov_contracts import CloudEvent


async def publish_raw(bootstrap: str, topic: str, value: bytes, *, key: bytes, headers: list[tuple[str, bytes]]):
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await p.start()
    try:
        return await p.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await p.stop()


def ce_headers(type_: str, **kw) -> list[tuple[str, bytes]]:
    return CloudEvent(type=type_, source="tests", **kw).headers()


@contextlib.asynccontextmanager
async def running(bootstrap: str, consumer):
    """A real FastStream broker with the consumer attached, as a service runs it."""
    broker = KafkaBroker(bootstrap)
    consumer.attach(broker)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 30.0, every: float = 0.2) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if await check():
            return
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(every)


async def committed_offset(bootstrap: str, group: str, topic: str, partition: int):
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    for tp, meta in offsets.items():
        if tp.topic == topic and tp.partition == partition:
            return meta.offset
    return None

"""The one Kafka producer of a process: idempotent, acks=all, restarted after failures;
and `send_batched`, the outbox relay's way of handing it many records at once."""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError

from govkit.kafka_security import KafkaSecurity

log = logging.getLogger(__name__)

MAX_REQUEST_SIZE = 1048576  # aiokafka's default, stated: dead letters are fitted under it
# Records per partition go out in batches of up to this many bytes. aiokafka's default (16 KiB, about 15 outbox
# events) makes the producer send many small requests, one partition after another: a third of the rate.
MAX_BATCH_SIZE = 262144

Record = tuple[str, bytes, bytes, Sequence[tuple[str, bytes]]]
"""topic, key, value, headers"""


def producer_config(bootstrap: str, client_id: str) -> dict[str, Any]:
    # aiokafka's defaults are acks=1 and no idempotence: neither is safe for the outbox
    return dict(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=MAX_BATCH_SIZE,
        max_request_size=MAX_REQUEST_SIZE,
        request_timeout_ms=15000,
        retry_backoff_ms=200,
    )


class Producer:
    """Lazily started; `reset()` drops a producer that failed so the next use starts a fresh one."""

    def __init__(self, bootstrap: str, client_id: str, security: KafkaSecurity | None = None):
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.security = KafkaSecurity.from_env() if security is None else security
        self.max_request_size = MAX_REQUEST_SIZE
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                p = AIOKafkaProducer(
                    **producer_config(self.bootstrap, self.client_id), **self.security.aiokafka_kwargs()
                )
                try:
                    await p.start()
                except BaseException:
                    await p.stop()
                    raise
                self._producer = p
            return self._producer

    async def reset(self) -> None:
        async with self._lock:
            p, self._producer = self._producer, None
        if p is not None:
            try:
                await asyncio.wait_for(p.stop(), 10)
            except Exception:  # already broken: nothing more to release
                log.debug("producer stop failed", exc_info=True)

    async def send_and_wait(
        self, topic: str, value: bytes, *, key: bytes | None, headers: Sequence[tuple[str, bytes | None]]
    ) -> None:
        p = await self.get()
        await p.send_and_wait(topic, value, key=key, headers=headers)

    async def stop(self) -> None:
        await self.reset()


async def send_batched(producer: AIOKafkaProducer, records: Iterable[Record]) -> list[asyncio.Future[Any]]:
    """Hand `records` to the producer in batches of our own making, one open batch per topic and partition
    (aiokafka's batch API), and return the futures of those batches: all resolved means Kafka acknowledged every
    record. Each record goes to the partition `send()` would choose for its key (the default partitioner: murmur2
    of the key over the topic's partitions, as the Java client does); within a partition the records keep the
    order of `records`. Per record this costs a fraction of `send()`, which creates a future and an awaitable
    for each one. Records without a key are not supported (the outbox always has one)."""
    partitions: dict[str, list[int]] = {}
    open_batches: dict[tuple[str, int], Any] = {}
    futures: list[asyncio.Future[Any]] = []
    for topic, key, value, headers in records:
        parts = partitions.get(topic)
        if parts is None:
            parts = partitions[topic] = sorted(await producer.partitions_for(topic))
        part = parts[(murmur2(key) & 0x7FFFFFFF) % len(parts)]  # aiokafka's DefaultPartitioner
        batch = open_batches.get((topic, part))
        if batch is None:
            batch = open_batches[(topic, part)] = producer.create_batch()
        if batch.append(timestamp=None, key=key, value=value, headers=headers) is None:  # full: hand it over
            futures.append(await producer.send_batch(batch, topic, partition=part))
            batch = open_batches[(topic, part)] = producer.create_batch()
            if batch.append(timestamp=None, key=key, value=value, headers=headers) is None:
                raise MessageSizeTooLargeError(f"a record of {len(value)} bytes does not fit in a batch")
    for (topic, part), batch in open_batches.items():
        futures.append(await producer.send_batch(batch, topic, partition=part))
    return futures


_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """aiokafka's `partitioner.murmur2` (the Java client's Utils.murmur2, as an unsigned int), reading the
    input four bytes at a time with struct: the same value in half the time (tests/integration/test_outbox.py
    compares the two)."""
    length = len(data)
    h = 0x9747B28C ^ length
    n4 = length >> 2
    for k in struct.unpack_from(f"<{n4}I", data):
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    extra = length & 3
    if extra:
        if extra >= 3:
            h ^= data[n4 * 4 + 2] << 16
        if extra >= 2:
            h ^= data[n4 * 4 + 1] << 8
        h ^= data[n4 * 4]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h

"""The one Kafka producer of a process: idempotent, acks=all, restarted after failures."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

log = logging.getLogger(__name__)

MAX_REQUEST_SIZE = 1048576  # aiokafka's default, stated: dead letters are fitted under it


def producer_config(bootstrap: str, client_id: str) -> dict[str, Any]:
    # aiokafka's defaults are acks=1 and no idempotence: neither is safe for the outbox
    return dict(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_request_size=MAX_REQUEST_SIZE,
        request_timeout_ms=15000,
        retry_backoff_ms=200,
    )


class Producer:
    """Lazily started; `reset()` drops a producer that failed so the next use starts a fresh one."""

    def __init__(self, bootstrap: str, client_id: str):
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.max_request_size = MAX_REQUEST_SIZE
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                p = AIOKafkaProducer(**producer_config(self.bootstrap, self.client_id))
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

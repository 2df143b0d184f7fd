"""Transactional outbox: events are rows written in the same transaction as the
state change; one relay per schema (elected by an advisory lock) publishes them
in id order, so events with the same key keep their order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import timedelta
from typing import Any

import asyncpg

from gov_contracts import CloudEvent, event_type_for
from gov_contracts.base import EventModel
from govkit import db, metrics, tracing
from govkit.kafka import Producer

log = logging.getLogger(__name__)

INSERT = """
insert into outbox (event_id, topic, key, event_type, headers, payload)
values ($1, $2, $3, $4, $5, $6)
"""
SELECT_PENDING = """
select id, topic, key, headers, payload from outbox
where published_at is null order by id limit $1
"""
MARK_PUBLISHED = "update outbox set published_at = now() where id = any($1::bigint[])"
BACKLOG = "select count(*) from outbox where published_at is null"
PRUNE_PUBLISHED = """
delete from outbox where id = any(array(
    select id from outbox where published_at < now() - $1::interval limit $2))
"""


async def add(con: db.Connection, event: EventModel, *, key: str, source: str, event_id: str | None = None) -> str:
    """Record an event to publish when the caller's transaction commits. `key` is the
    aggregate id: the record key and the event's `ce_subject` (docs/events.md)."""
    et = event_type_for(type(event))
    given_id: dict[str, Any] = {"id": event_id} if event_id else {}
    ce = CloudEvent(type=et.name, source=source, subject=key, traceparent=tracing.current_traceparent(), **given_id)
    headers = [[k, v.decode()] for k, v in ce.headers()]
    await con.execute(INSERT, uuid.UUID(ce.id), et.topic, key, et.name, headers, event.model_dump_json().encode())
    return ce.id


async def prune_published(con: db.Connection, *, older_than: timedelta, batch: int) -> int:
    """Delete at most `batch` rows published before `older_than` ago; returns how many.
    Rows not yet published are never touched."""
    status = await con.execute(PRUNE_PUBLISHED, older_than, batch)
    return int(status.rsplit(" ", 1)[1])


class OutboxRelay:
    def __init__(
        self,
        *,
        dsn: str,
        schema: str,
        pool: asyncpg.Pool,
        producer: Producer,
        service: str,
        batch_size: int = 500,
        poll_interval: float = 1.0,
    ):
        self.dsn, self.schema, self.pool = dsn, schema, pool
        self.producer, self.service = producer, service
        self.batch_size, self.poll_interval = batch_size, poll_interval
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.is_leader = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.schema}")

    async def stop(self, flush_timeout: float = 10.0) -> None:
        """Stop after one last pass, so what was committed before shutdown goes out."""
        self._stopping = True
        self._wake.set()
        if self._task:
            try:
                await asyncio.wait_for(self._task, flush_timeout)
            except TimeoutError:
                self._task.cancel()
                log.warning("outbox relay did not flush within %.0fs; rows stay for the next start", flush_timeout)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _run(self) -> None:
        backoff = 0.2
        while not self._stopping:
            con: asyncpg.Connection | None = None
            try:
                con = await db.connect(self.dsn, self.schema)
                # one relay per schema across replicas: keeps per-key order
                while not self._stopping:
                    if await con.fetchval("select pg_try_advisory_lock(hashtext(current_schema() || '.outbox'))"):
                        break
                    # not the relay: report the backlog all the same, so a former relay's gauge does not go stale
                    metrics.OUTBOX_BACKLOG.labels(self.service).set(await con.fetchval(BACKLOG))
                    await self._sleep(self.poll_interval * 5)
                if self._stopping:
                    return
                self.is_leader = True
                await con.add_listener(f"{self.schema}_outbox", self._on_notify)
                while True:
                    self._wake.clear()
                    sent = await self.publish_pending()
                    backoff = 0.2
                    if self._stopping:
                        return
                    if sent < self.batch_size:
                        await self._sleep(self.poll_interval)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.is_leader = False
                log.warning("outbox relay: %s: %s; retrying in %.1fs", type(e).__name__, e, backoff)
                await self.producer.reset()
                await self._sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                self.is_leader = False
                if con is not None:
                    try:
                        await con.close(timeout=2)
                    except Exception:
                        con.terminate()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def publish_pending(self) -> int:
        """Publish one batch in id order; mark it sent only after Kafka acknowledged all of it."""
        async with self.pool.acquire() as con:
            rows = await con.fetch(SELECT_PENDING, self.batch_size)
            if not rows:
                metrics.OUTBOX_BACKLOG.labels(self.service).set(0)
                return 0
            # measured before sending, so that while Kafka is down the gauge shows the backlog growing
            backlog = len(rows) if len(rows) < self.batch_size else await con.fetchval(BACKLOG)
            metrics.OUTBOX_BACKLOG.labels(self.service).set(backlog)
            producer = await self.producer.get()
            futures = []
            for r in rows:
                headers = [(k, v.encode()) for k, v in r["headers"]]
                futures.append(
                    await producer.send(r["topic"], bytes(r["payload"]), key=r["key"].encode(), headers=headers)
                )
            await asyncio.gather(*futures)
            await con.execute(MARK_PUBLISHED, [r["id"] for r in rows])
            for r in rows:
                metrics.EVENTS_PUBLISHED.labels(self.service, r["topic"]).inc()
            metrics.OUTBOX_BACKLOG.labels(self.service).set(max(backlog - len(rows), 0))
            return len(rows)

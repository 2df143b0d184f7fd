"""Transactional outbox: events are rows written in the same transaction as the
state change; one relay per schema (elected by an advisory lock) publishes them
in id order, so events with the same key keep their order.

The relay keeps up to `max_in_flight` batches between PostgreSQL and Kafka: while
Kafka acknowledges one batch, the next is read and handed to the producer. A batch
is marked published only after Kafka acknowledged all of it and every batch before
it; when one fails, nothing after it is marked either, the producer is replaced and
the relay starts again from the lowest unpublished id (at least once, in id order)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from gov_contracts import CloudEvent, event_type_for
from gov_contracts.base import EventModel
from govkit import db, metrics, telemetry, tracing
from govkit.kafka import Producer, Record, send_batched

log = logging.getLogger(__name__)

INSERT = """
insert into outbox (event_id, topic, key, event_type, headers, payload)
values ($1, $2, $3, $4, $5, $6)
"""
# Rows of batches still in flight are left out (they are not marked yet). `not in (select unnest(..))` is a
# hashed subplan: one probe per row instead of a scan of the array. Rows that commit late, with an id below the
# batches in flight, are found too: the next batch is always the lowest unpublished ids not yet handed over.
SELECT_PENDING = """
select id, topic, key, headers::text, payload from outbox
where published_at is null and id not in (select unnest($2::bigint[]))
order by id limit $1
"""
MARK_PUBLISHED = "update outbox set published_at = now() where id = any($1::bigint[])"
BACKLOG = "select count(*) from outbox where published_at is null"
LAST_ID = "select max(id) from outbox"
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


@dataclass
class _Batch:
    """Rows handed to the producer and not yet marked published (left out of the next reads)."""

    ids: list[int]
    done: asyncio.Task[None]  # acknowledged by Kafka, then marked published; after the batch before it


def _records(rows: list[asyncpg.Record]) -> Iterator[Record]:
    # headers are stored as [[name, value], ...] (jsonb): one json.loads of their text is the cheapest decoding
    loads = json.loads
    for _, topic, key, headers, payload in rows:
        yield topic, key.encode(), payload, [(k, v.encode()) for k, v in loads(headers)]


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
        max_in_flight: int = 4,
        exact_backlog_every: float = 10.0,
    ):
        self.dsn, self.schema, self.pool = dsn, schema, pool
        self.producer, self.service = producer, service
        self.batch_size, self.poll_interval = batch_size, poll_interval
        # batches between PostgreSQL and Kafka at a time: one being acknowledged while the next is read and sent
        self.max_in_flight = max(1, max_in_flight)
        # the backlog gauge counts the unpublished rows at most this often; in between it is estimated from ids
        self.exact_backlog_every = exact_backlog_every
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._counted_at = float("-inf")
        self._backlog = 0
        self.is_leader = False
        self.published = 0  # rows marked published by this relay since it started

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
                    await self.publish_pending(con)
                    backoff = 0.2
                    if self._stopping:
                        return
                    # publish_pending went on until a batch came back short: wait for the next NOTIFY
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

    async def publish_pending(self, con: db.Connection | None = None) -> int:
        """Publish the unpublished rows in id order, batch after batch, until a batch comes back short of
        `batch_size`; returns how many rows were marked published. A batch is marked only after Kafka
        acknowledged all of it and everything before it. On an error (Kafka, PostgreSQL) the rows not yet
        marked stay unpublished and go out again on the next call, in id order."""
        if con is None:
            async with self.pool.acquire() as c:
                return await self._drain(c)
        return await self._drain(con)

    async def _drain(self, con: db.Connection) -> int:
        producer = await self.producer.get()
        pending: deque[_Batch] = deque()
        marked, more = 0, True
        try:
            while True:
                while pending and pending[0].done.done():
                    b = pending.popleft()
                    b.done.result()  # raises what went wrong: nothing after it was marked either
                    marked += len(b.ids)
                if more and len(pending) < self.max_in_flight:
                    rows = await con.fetch(SELECT_PENDING, self.batch_size, [i for b in pending for i in b.ids])
                    more = len(rows) == self.batch_size
                    if rows:
                        # measured before sending, so that while Kafka is down the gauge shows the backlog growing
                        await self._gauge(con, rows, pending, more)
                        records, spans = telemetry.publishing(_records(rows))
                        try:
                            acked = asyncio.gather(*await send_batched(producer, records))
                        except BaseException as e:
                            telemetry.published(spans, None, e)
                            raise
                        acked.add_done_callback(_retrieve)
                        telemetry.published(spans, acked)
                        ids = [r[0] for r in rows]
                        after = pending[-1].done if pending else None
                        done = asyncio.create_task(self._mark(ids, rows, acked, after))
                        done.add_done_callback(_retrieve)
                        pending.append(_Batch(ids, done))
                        continue  # fill the pipeline before waiting for an acknowledgement
                if not pending:
                    break
                await asyncio.wait([pending[0].done])
            if marked == 0:
                self._set_backlog(0)
            return marked
        finally:
            # after an error, batches still in flight are not marked: they go out again after the failed one
            for b in pending:
                b.done.cancel()

    async def _mark(
        self, ids: list[int], rows: list[asyncpg.Record], acked: asyncio.Future[Any], after: asyncio.Task[None] | None
    ) -> None:
        """Mark the batch published once Kafka acknowledged all of it and the batch before it is marked.
        On the pool, so the relay's own connection reads the next batch meanwhile."""
        if after is not None:
            await after
        await asyncio.shield(acked)  # shielded: a cancelled relay leaves the producer's futures alone
        async with self.pool.acquire() as con, con.transaction():
            # a mark lost in a crash only means the rows go out again (at least once, the inbox drops them):
            # no need to wait for its WAL flush
            await con.execute("set local synchronous_commit = off")
            await con.execute(MARK_PUBLISHED, ids)
        self.published += len(ids)
        self._set_backlog(self._backlog - len(ids))
        for topic, n in Counter(r[1] for r in rows).items():
            metrics.EVENTS_PUBLISHED.labels(self.service, topic).inc(n)

    async def _gauge(self, con: db.Connection, rows: list[asyncpg.Record], pending: deque[_Batch], more: bool) -> None:
        waiting = len(rows) + sum(len(b.ids) for b in pending)
        if not more:
            backlog = waiting  # a short batch: everything unpublished is in hand
        elif time.monotonic() - self._counted_at >= self.exact_backlog_every:
            backlog = await con.fetchval(BACKLOG)
            self._counted_at = time.monotonic()
        else:
            # ids from the lowest unpublished one to the newest; an upper bound (rolled-back ids leave gaps)
            first = pending[0].ids[0] if pending else rows[0][0]
            backlog = max((await con.fetchval(LAST_ID) or 0) - first + 1, waiting)
        self._set_backlog(backlog)

    def _set_backlog(self, n: int) -> None:
        self._backlog = max(n, 0)
        metrics.OUTBOX_BACKLOG.labels(self.service).set(self._backlog)


def _retrieve(f: asyncio.Future[Any]) -> None:
    # a batch after a failed one is given up, its outcome of no interest; asyncio would log it as never retrieved
    if not f.cancelled():
        f.exception()

"""Rebuild the reporting projections from the topics, never leaving them worse.

1. One rebuild at a time (a session advisory lock); shadow tables left by a
   killed run are dropped first.
2. Every record of the replayed topics, from the beginning, goes into shadow
   tables (reporting.shadow), a batch at a time (one inbox statement, runs of
   case events through their batch handler, as the live consumer applies
   them), under the live consumer's poison rules: what it
   dead-letters (an undecodable record, a handler's PoisonEvent, a database
   error caused by the event's data) is skipped in a savepoint and reported
   (a batch that fails is applied again event by event to find it); any other
   error fails the rebuild.
3. The live consumer keeps applying new events to the live tables meanwhile.
   The rebuild catches up with the end offsets, then in one transaction locks
   the inbox (the live consumer waits), replays the last records and swaps the
   shadows in together with the inbox rows of the replayed topics, so that the
   service treats everything the rebuild applied as a duplicate.

On any failure the live tables are untouched: the shadows are dropped, or,
after a kill, at the next start.
"""

from __future__ import annotations

import contextlib
import copy
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from gov_contracts import REGISTRY, topics
from govkit import db, inbox, kafka_security
from govkit.consumer import BatchHandler, Decoded, Handler, PoisonEvent, data_fault, decode
from reporting import projections
from reporting.shadow import Shadow

TOPICS = (topics.CASES, topics.TASKS, topics.VOLUNTEERS, topics.LIVELIHOOD)
CONSUMER = "reporting"  # the service's consumer group, whose inbox rows the rebuild replaces
RUNNING_LOCK = 7_243_001  # session advisory lock held by the one running rebuild
APPLICATION_NAME = "reporting-rebuild"
DATA_ERROR = "data_error"  # the dead-letter reason of a database error caused by the event's data
SWAP_LOCK_TIMEOUT = "5s"  # readers and the live consumer wait at most this long for one swap attempt
SWAP_ATTEMPTS = 5
CATCH_UP_ROUNDS = 10
FIRST_SKIPPED = 5
# inbox.record for a batch: by id only, as the rebuild replays old offsets on purpose; an id that comes twice in
# the batch is recorded by its first copy
RECORD_BATCH = """
insert into inbox (consumer, event_id, event_type, topic, partition, "offset")
select distinct on (event_id) $1, event_id, event_type, topic, partition, "offset"
from unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::bigint[]) with ordinality
     as b(event_id, event_type, topic, partition, "offset", ord)
order by event_id, ord
on conflict (consumer, event_id) do nothing
returning event_id
"""

Progress = Callable[[int, int, float], None]


class RebuildFailed(Exception):
    """Why a rebuild stopped, in one line; the live projections are unchanged."""


class _Fallback(Exception):
    """The batch did not apply as a whole: apply it event by event, in a savepoint each."""


class _Skip(Exception):
    """An event the live consumer dead-letters: the rebuild skips it."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def bar(done: int, total: int, started: float) -> None:
    width = 30
    frac = min(done / total, 1.0) if total else 1.0
    rate = done / max(time.monotonic() - started, 1e-6)
    sys.stderr.write(f"\rrebuild [{'#' * int(frac * width):<{width}}] {done}/{total} events {rate:,.0f}/s")
    sys.stderr.flush()


def one_line(exc: BaseException) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= 300 else text[:297] + "..."


def where(rec: ConsumerRecord) -> str:
    return f"{rec.topic}/{rec.partition}@{rec.offset}"


@dataclass
class Tally:
    read: int = 0
    applied: int = 0
    duplicates: int = 0
    ignored: int = 0
    skipped: Counter = field(default_factory=Counter)
    first_skipped: list = field(default_factory=list)
    limit: int = FIRST_SKIPPED  # how many skipped records are reported with their coordinates

    def skip(self, rec: ConsumerRecord, reason: str, detail: str) -> None:
        self.skipped[reason] += 1
        if len(self.first_skipped) < self.limit:
            self.first_skipped.append(
                {
                    "topic": rec.topic,
                    "partition": rec.partition,
                    "offset": rec.offset,
                    "reason": reason,
                    "detail": detail[:300],
                }
            )

    def add(self, other: Tally) -> None:
        self.read += other.read
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.ignored += other.ignored
        self.skipped.update(other.skipped)
        room = self.limit - len(self.first_skipped)
        self.first_skipped += other.first_skipped[: max(room, 0)]


class Replay:
    """Reads the assigned partitions from `position` on and applies each record to the shadows."""

    def __init__(
        self,
        con: asyncpg.Connection,
        consumer: AIOKafkaConsumer,
        handlers: Mapping[str, Handler],
        position: dict[TopicPartition, int],
        *,
        batch_handlers: Mapping[str, BatchHandler] | None = None,
        batch: int,
        progress: Progress | None,
        report_first: int,
    ):
        self.con, self.consumer, self.handlers = con, consumer, handlers
        self.batch_handlers = dict(batch_handlers or {})
        self.position, self.batch, self.progress = position, batch, progress
        self.tally = Tally(limit=report_first)
        self.total = 0
        self.started = time.monotonic()

    def lag(self, end: dict[TopicPartition, int]) -> int:
        return sum(max(end[tp] - at, 0) for tp, at in self.position.items())

    def checkpoint(self) -> tuple:
        return dict(self.position), copy.deepcopy(self.tally)

    def rewind(self, saved: tuple) -> None:
        """Back to a checkpoint, after the transaction holding what came since was rolled back."""
        position, tally = saved
        for tp, offset in position.items():
            self.consumer.seek(tp, offset)
        self.position, self.tally = dict(position), tally

    async def until(self, end: dict[TopicPartition, int]) -> None:
        self.total = max(self.total, self.tally.read + self.lag(end))
        remaining = {tp for tp, at in self.position.items() if at < end[tp]}
        while remaining:
            got = await self.consumer.getmany(*remaining, timeout_ms=1000, max_records=self.batch)
            records = [rec for recs in got.values() for rec in recs]
            if records:
                await self._apply(records)
            for tp in list(remaining):
                self.position[tp] = await self.consumer.position(tp)
                if self.position[tp] >= end[tp]:
                    remaining.discard(tp)
            if self.progress:
                self.progress(self.tally.read, max(self.total, self.tally.read), self.started)

    async def _apply(self, records: list[ConsumerRecord]) -> None:
        decoded = Tally(limit=self.tally.limit)
        work = []
        for rec in records:
            decoded.read += 1
            try:
                d = decode(rec, REGISTRY)
            except PoisonEvent as p:
                decoded.skip(rec, p.reason, str(p))
                continue
            handler = self.handlers.get(d.envelope.type)
            if handler is None:
                decoded.ignored += 1
                continue
            work.append((rec, d, handler))
        try:
            # most batches hold no poison: one transaction, one inbox statement, runs of events through their batch
            # handlers, no savepoint per event
            async with self.con.transaction():
                outcome = Tally(limit=self.tally.limit)
                await self._apply_batch(work, outcome)
        except _Fallback:
            async with self.con.transaction():
                outcome = Tally(limit=self.tally.limit)
                for rec, d, handler in work:
                    try:
                        async with self.con.transaction():  # a savepoint: a poison event undoes only itself
                            await self._apply_one(rec, d, handler, outcome)
                    except _Skip as s:
                        outcome.skip(rec, s.reason, str(s))
        self.tally.add(decoded)
        self.tally.add(outcome)

    async def _apply_batch(self, work: list[tuple[ConsumerRecord, Decoded, Handler]], outcome: Tally) -> None:
        """The batch in one go; raises _Fallback when anything in it fails (the event-by-event path then says
        which event, and whether it is skipped or fails the rebuild)."""
        try:
            rows = await self.con.fetch(
                RECORD_BATCH,
                CONSUMER,
                [d.envelope.id for _, d, _ in work],
                [d.envelope.type for _, d, _ in work],
                [rec.topic for rec, _, _ in work],
                [rec.partition for rec, _, _ in work],
                [rec.offset for rec, _, _ in work],
            )
            recorded = {r["event_id"] for r in rows}
            fresh = []
            for item in work:
                event_id = item[1].envelope.id
                if event_id in recorded:
                    recorded.discard(event_id)  # a second copy in the batch is a duplicate
                    fresh.append(item)
                    outcome.applied += 1
                else:
                    outcome.duplicates += 1
            i = 0
            while i < len(fresh):
                _, d, handler = fresh[i]
                run = self.batch_handlers.get(d.envelope.type)
                j = i + 1
                if run is None:
                    await handler(self.con, d.event, d.envelope)
                else:
                    while j < len(fresh) and self.batch_handlers.get(fresh[j][1].envelope.type) is run:
                        j += 1
                    await run(self.con, [(x.event, x.envelope) for _, x, _ in fresh[i:j]])
                i = j
        except Exception as e:
            raise _Fallback() from e

    async def _apply_one(self, rec: ConsumerRecord, d: Decoded, handler: Handler, outcome: Tally) -> None:
        env = d.envelope
        try:
            fresh = await inbox.record(
                self.con,
                consumer=CONSUMER,
                event_id=env.id,
                event_type=env.type,
                topic=rec.topic,
                partition=rec.partition,
                offset=rec.offset,
            )
            if fresh:
                await handler(self.con, d.event, env)
        except PoisonEvent as p:
            raise _Skip(p.reason, str(p)) from None
        except Exception as e:
            reason = data_fault(e)
            if reason is None:
                raise RebuildFailed(f"{env.type} {env.id} at {where(rec)}: {one_line(e)}") from e
            raise _Skip(DATA_ERROR, reason) from None
        if fresh:
            outcome.applied += 1
        else:
            outcome.duplicates += 1


async def _partitions(consumer: AIOKafkaConsumer) -> list[TopicPartition]:
    await consumer._client.force_metadata_update()
    parts = []
    for topic in TOPICS:
        found = consumer.partitions_for_topic(topic)
        if not found:
            raise RebuildFailed(f"topic {topic} not found")
        parts += [TopicPartition(topic, p) for p in sorted(found)]
    return parts


async def _check_history(consumer: AIOKafkaConsumer, parts: list[TopicPartition]) -> None:
    for tp, first in (await consumer.beginning_offsets(parts)).items():
        if first > 0:
            raise RebuildFailed(
                f"{tp.topic}/{tp.partition} begins at offset {first}: its older records are gone, "
                "so a rebuild would lose them"
            )


async def _swap(
    con: asyncpg.Connection, consumer: AIOKafkaConsumer, parts: list[TopicPartition], replay: Replay, shadow: Shadow
) -> float:
    """Final catch-up and swap in one transaction; seconds the live consumer waited."""
    for attempt in range(1, SWAP_ATTEMPTS + 1):
        saved = replay.checkpoint()
        started = time.monotonic()
        try:
            async with con.transaction():
                await con.execute("select set_config('lock_timeout', $1, true)", SWAP_LOCK_TIMEOUT)
                await shadow.lock_inbox(con)
                await replay.until(await consumer.end_offsets(parts))
                await shadow.swap(con, consumer=CONSUMER, topics=list(TOPICS))
            return time.monotonic() - started
        except (asyncpg.LockNotAvailableError, asyncpg.DeadlockDetectedError) as e:
            if attempt == SWAP_ATTEMPTS:
                raise RebuildFailed(
                    f"could not lock the tables for the swap in {SWAP_ATTEMPTS} attempts: {one_line(e)}"
                ) from e
            replay.rewind(saved)
    raise AssertionError("unreachable")


async def _clean_up(
    con: asyncpg.Connection | None, consumer: AIOKafkaConsumer | None, unused_shadow: Shadow | None
) -> None:
    """Best effort: what is left (shadows of a lost connection) the next rebuild drops."""
    if con is not None:
        if unused_shadow is not None:
            with contextlib.suppress(Exception):
                await unused_shadow.drop(con)
        with contextlib.suppress(Exception):
            await con.close()  # also releases the advisory lock
    if consumer is not None:
        with contextlib.suppress(Exception):
            await consumer.stop()


async def rebuild(
    dsn: str,
    bootstrap: str,
    *,
    schema: str = "reporting",
    batch: int = 500,
    progress: Progress | None = bar,
    handlers: Mapping[str, Handler] | None = None,
    batch_handlers: Mapping[str, BatchHandler] | None = None,
    report_first: int = FIRST_SKIPPED,
) -> dict:
    """Raises RebuildFailed (one line) on any failure; the live projections are then unchanged.

    `handlers` defaults to the service's projection handlers and `batch_handlers` to its batch handlers (none
    when `handlers` is given and `batch_handlers` is not); `report_first`
    is how many skipped records are reported with their coordinates."""
    started = time.monotonic()
    shadow = Shadow(schema, projections.PROJECTION_TABLES)
    con = consumer = replay = None
    shadow_made = swapped = False
    try:
        con = await db.connect(dsn, schema)
        await con.execute("select set_config('application_name', $1, false)", APPLICATION_NAME)
        if not await con.fetchval("select pg_try_advisory_lock($1)", RUNNING_LOCK):
            raise RebuildFailed("another rebuild is running")
        leftovers = await shadow.drop_leftovers(con)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **kafka_security.aiokafka_kwargs(),
        )
        await consumer.start()
        parts = await _partitions(consumer)
        await _check_history(consumer, parts)
        shadow_made = True
        await shadow.create(con)
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        position = {tp: await consumer.position(tp) for tp in parts}
        replay = Replay(
            con,
            consumer,
            projections.handlers() if handlers is None else handlers,
            position,
            batch_handlers=(projections.batch_handlers() if handlers is None else None)
            if batch_handlers is None
            else batch_handlers,
            batch=batch,
            progress=progress,
            report_first=report_first,
        )
        await replay.until(await consumer.end_offsets(parts))
        await shadow.finish(con)
        for _ in range(CATCH_UP_ROUNDS):  # the live topics grew meanwhile: close in before locking anything
            end = await consumer.end_offsets(parts)
            if replay.lag(end) <= batch:
                break
            await replay.until(end)
        swap_seconds = await _swap(con, consumer, parts, replay, shadow)
        swapped = True
    except RebuildFailed:
        raise
    except Exception as e:
        raise RebuildFailed(one_line(e)) from e
    finally:
        if progress and replay is not None:
            sys.stderr.write("\n")
        await _clean_up(con, consumer, shadow if shadow_made and not swapped else None)
    seconds = time.monotonic() - started
    tally = replay.tally
    return {
        "events": tally.read,
        "applied": tally.applied,
        "duplicates": tally.duplicates,
        "ignored": tally.ignored,
        "skipped": sum(tally.skipped.values()),
        "skipped_by_reason": dict(sorted(tally.skipped.items())),
        "first_skipped": tally.first_skipped,
        "dropped_leftover": leftovers,
        "seconds": round(seconds, 2),
        "events_per_s": round(tally.read / max(seconds, 1e-6), 1),
        "swap_seconds": round(swap_seconds, 3),
    }

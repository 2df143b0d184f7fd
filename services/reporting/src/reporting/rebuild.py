"""Drop the projections and replay every topic from the beginning.

Holds the rebuild lock exclusively, so the running service's consumer waits
instead of writing half-built projections; records every replayed event in the
inbox under the service's consumer name, so when the service resumes, what the
rebuild applied is a duplicate to it.
"""
from __future__ import annotations

import sys
import time
from typing import Callable, Optional

from aiokafka import AIOKafkaConsumer, TopicPartition

from gov_contracts import REGISTRY, topics as T
from govkit import db, inbox
from govkit.consumer import PoisonEvent, decode
from reporting import projections as P

TOPICS = (T.CASES, T.TASKS, T.VOLUNTEERS)
CONSUMER = "reporting"


def bar(done: int, total: int, started: float) -> None:
    width = 30
    frac = done / total if total else 1.0
    rate = done / max(time.monotonic() - started, 1e-6)
    sys.stderr.write(f"\rrebuild [{'#' * int(frac * width):<{width}}] {done}/{total} events {rate:,.0f}/s")
    sys.stderr.flush()


async def rebuild(dsn: str, bootstrap: str, *, schema: str = "reporting", batch: int = 500,
                  progress: Optional[Callable[[int, int, float], None]] = bar) -> dict:
    handlers = P.handlers()
    con = await db.connect(dsn, schema)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    started = time.monotonic()
    applied = skipped = 0
    try:
        await con.execute("select pg_advisory_lock($1)", P.REBUILD_LOCK)
        parts = []
        for t in TOPICS:
            await consumer._client.force_metadata_update()
            parts += [TopicPartition(t, p) for p in (consumer.partitions_for_topic(t) or ())]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        begin = {tp: await consumer.position(tp) for tp in parts}
        end = await consumer.end_offsets(parts)
        total = sum(end[tp] - begin[tp] for tp in parts)
        async with con.transaction():
            await con.execute("truncate " + ", ".join(P.PROJECTION_TABLES))
            await con.execute("delete from inbox where consumer = $1", CONSUMER)
        done = 0
        remaining = {tp for tp in parts if end[tp] > begin[tp]}
        while remaining:
            got = await consumer.getmany(*remaining, timeout_ms=1000, max_records=batch)
            async with con.transaction():
                for tp, records in got.items():
                    for rec in records:
                        if rec.offset >= end[tp]:
                            continue
                        done += 1
                        try:
                            d = decode(rec, REGISTRY)
                        except PoisonEvent:
                            skipped += 1  # the live consumer dead-letters these; nothing to project
                            continue
                        h = handlers.get(d.envelope.type)
                        if h is None:
                            continue
                        try:
                            async with con.transaction():  # a savepoint: a poison event undoes only itself
                                if await inbox.record(con, consumer=CONSUMER, event_id=d.envelope.id,
                                                      event_type=d.envelope.type, topic=rec.topic,
                                                      partition=rec.partition, offset=rec.offset):
                                    await h(con, d.event, d.envelope)
                                    applied += 1
                        except PoisonEvent:
                            skipped += 1
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
            if progress:
                progress(done, total, started)
        if progress:
            sys.stderr.write("\n")
        return {"events": total, "applied": applied, "skipped": skipped,
                "seconds": round(time.monotonic() - started, 2)}
    finally:
        try:
            await con.execute("select pg_advisory_unlock($1)", P.REBUILD_LOCK)
        finally:
            await con.close()
            await consumer.stop()

"""A consumer process for the crash test: applies a batch of test events and, on the event with seq == CRASH_SEQ,
writes MARKER and waits (its transaction open, the events before it written in it) to be killed with SIGKILL.

    python -m tests.integration.batch_crash_process BOOTSTRAP DSN TOPIC GROUP TABLE CRASH_SEQ MARKER
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from faststream.kafka import KafkaBroker

from gov_contracts import registry
from govkit import db
from govkit.consumer import EventConsumer
from govkit.kafka import Producer

from .conftest import ThingHappened

TYPE = "gov.test.thing_happened.v1"


async def main(bootstrap: str, dsn: str, topic: str, group: str, table: str, crash_seq: int, marker: Path) -> None:
    et = registry.EventType(TYPE, ThingHappened, topic, "tests")
    registry.REGISTRY[et.name] = et
    registry._BY_MODEL[ThingHappened] = et
    pool = await db.create_pool(dsn, "cases", max_size=2)

    async def handler(con, event, env):
        await con.execute(
            f"insert into {table} (event_id, thing_id, seq) values ($1, $2, $3)", env.id, event.thing_id, event.seq
        )
        if event.seq == crash_seq:
            marker.write_text(str(await con.fetchval(f"select count(*) from {table}")))
            await asyncio.sleep(3600)

    consumer = EventConsumer(
        service="test",
        group_id=group,
        topics=[topic],
        pool=pool,
        producer=Producer(bootstrap, "test-crash"),
        handlers={TYPE: handler},
    )
    broker = KafkaBroker(bootstrap)
    consumer.attach(broker)
    await broker.start()
    await asyncio.sleep(3600)


if __name__ == "__main__":
    b, d, t, g, tb, seq, m = sys.argv[1:8]
    asyncio.run(main(b, d, t, g, tb, int(seq), Path(m)))

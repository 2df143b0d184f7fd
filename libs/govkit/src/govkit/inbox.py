"""Inbox: the ids of events a consumer has applied, written in the same
transaction as their effects, so a redelivered event changes nothing.

Inbox rows are pruned after INBOX_RETENTION_DAYS. What keeps a replay from
applying an event twice after that is the watermark: per (consumer, topic,
partition) the highest offset the consumer has handled, advanced in the same
transaction. An offset at or below it is a replay (a consumer group reset to
earliest); a copy of an event at a new offset (a producer retry, a re-driven
dead letter) is recognised by its id while the inbox still holds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import NamedTuple

from govkit.db import Connection


class Claim(NamedTuple):
    event_id: str
    event_type: str
    topic: str
    partition: int
    offset: int


RECORD = """
insert into inbox (consumer, event_id, event_type, topic, partition, "offset")
values ($1, $2, $3, $4, $5, $6)
on conflict (consumer, event_id) do nothing
"""

# One statement: skip an offset at or below the watermark, else record the id
# (unless known), and advance the watermark either way, so that a duplicate's
# offset is not taken for a new event once the inbox row it matched is pruned.
CLAIM = """
with replayed as (
    select 1 from inbox_watermark
    where consumer = $1 and topic = $4 and partition = $5 and applied_offset >= $6
), fresh as (
    insert into inbox (consumer, event_id, event_type, topic, partition, "offset")
    select $1, $2, $3, $4, $5, $6 where not exists (select 1 from replayed)
    on conflict (consumer, event_id) do nothing
    returning 1
), advanced as (
    insert into inbox_watermark (consumer, topic, partition, applied_offset)
    values ($1, $4, $5, $6)
    on conflict (consumer, topic, partition) do update
        set applied_offset = excluded.applied_offset, updated_at = now()
        where inbox_watermark.applied_offset < excluded.applied_offset
)
select exists (select 1 from fresh)
"""

# The same claim for a batch ($2..$6 as arrays, one element per record): the watermark read once per partition
# and advanced to the batch's highest offset (duplicates' offsets included, as `claim` does); an event id that
# comes twice is recorded by its first copy. Returns the ids to apply.
CLAIM_BATCH = """
with batch as (
    select * from unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::bigint[]) with ordinality
        as b(event_id, event_type, topic, partition, "offset", ord)
), candidates as (
    select distinct on (b.event_id) b.* from batch b
    left join inbox_watermark w on w.consumer = $1 and w.topic = b.topic and w.partition = b.partition
    where w.applied_offset is null or b."offset" > w.applied_offset
    order by b.event_id, b.ord
), fresh as (
    insert into inbox (consumer, event_id, event_type, topic, partition, "offset")
    select $1, event_id, event_type, topic, partition, "offset" from candidates
    on conflict (consumer, event_id) do nothing
    returning event_id
), advanced as (
    insert into inbox_watermark (consumer, topic, partition, applied_offset)
    select $1, topic, partition, max("offset") from batch group by topic, partition
    on conflict (consumer, topic, partition) do update
        set applied_offset = excluded.applied_offset, updated_at = now()
        where inbox_watermark.applied_offset < excluded.applied_offset
)
select event_id from fresh
"""

PRUNE = """
delete from inbox where ctid = any(array(
    select ctid from inbox where processed_at < now() - $1::interval limit $2))
"""


async def record(
    con: Connection, *, consumer: str, event_id: str, event_type: str, topic: str, partition: int, offset: int
) -> bool:
    """True when the event id is new to this consumer (and is now recorded).

    By id only, ignoring the watermark: for a replay that applies old offsets
    again on purpose (the reporting rebuild). A live consumer uses `claim`."""
    status = await con.execute(RECORD, consumer, event_id, event_type, topic, partition, offset)
    return status.endswith(" 1")


async def claim(
    con: Connection, *, consumer: str, event_id: str, event_type: str, topic: str, partition: int, offset: int
) -> bool:
    """True when the record is to be applied: its offset is above the consumer's
    watermark for the partition and its event id is new. Records the id and
    advances the watermark in the caller's transaction."""
    applied: bool = await con.fetchval(CLAIM, consumer, event_id, event_type, topic, partition, offset)
    return applied


async def claim_batch(con: Connection, *, consumer: str, records: Sequence[Claim]) -> list[bool]:
    """`claim` for many records in one statement: for each, whether it is to be applied. A second copy of an
    event id within `records` is not (the first one is)."""
    first: dict[str, int] = {}
    for i, r in enumerate(records):
        first.setdefault(r.event_id, i)
    rows = await con.fetch(
        CLAIM_BATCH,
        consumer,
        [r.event_id for r in records],
        [r.event_type for r in records],
        [r.topic for r in records],
        [r.partition for r in records],
        [r.offset for r in records],
    )
    fresh = {row["event_id"] for row in rows}
    return [r.event_id in fresh and first[r.event_id] == i for i, r in enumerate(records)]


async def prune(con: Connection, *, older_than: timedelta, batch: int) -> int:
    """Delete at most `batch` inbox rows processed before `older_than` ago; returns how many."""
    status = await con.execute(PRUNE, older_than, batch)
    return int(status.rsplit(" ", 1)[1])

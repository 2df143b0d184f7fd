"""Inbox: the ids of events a consumer has applied, written in the same
transaction as their effects, so a redelivered event changes nothing."""
import asyncpg

RECORD = """
insert into inbox (consumer, event_id, event_type, topic, partition, "offset")
values ($1, $2, $3, $4, $5, $6)
on conflict (consumer, event_id) do nothing
"""


async def record(con: asyncpg.Connection, *, consumer: str, event_id: str, event_type: str,
                 topic: str, partition: int, offset: int) -> bool:
    """True when the event is new to this consumer (and is now recorded)."""
    status = await con.execute(RECORD, consumer, event_id, event_type, topic, partition, offset)
    return status.endswith(" 1")

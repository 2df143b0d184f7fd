"""Cases in and out of the tables for the use cases: load, save, the timeline, the outbox."""

from __future__ import annotations

import uuid
from dataclasses import fields
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, cast

import asyncpg

from cases import queries
from cases.domain.lifecycle import Case
from cases.domain.model import Level, Status
from gov_contracts import CloudEvent, event_type_for
from gov_contracts.cases import CaseFacts
from govkit import outbox, tracing

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

SOURCE = "cases"
CASE_FIELDS = tuple(f.name for f in fields(Case))

# a connection of its own or one lent by the pool
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


class Row(Protocol):
    """A case row (asyncpg.Record) or a dict with its columns."""

    def __getitem__(self, key: str, /) -> Any: ...


def _one(row: asyncpg.Record | None) -> asyncpg.Record:
    assert row is not None, "the statement returns one row"
    return row


def to_case(row: Row) -> Case:
    values = {name: row[name] for name in CASE_FIELDS}
    return Case(**{**values, "status": Status(row["status"]), "level": Level(row["level"])})


async def find(con: Connection, ref: str | uuid.UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    """The case with this id or number (`for_update`: locked until the transaction ends)."""
    if not isinstance(ref, uuid.UUID):
        try:
            ref = uuid.UUID(ref)
        except ValueError:
            return await con.fetchrow(
                queries.GET_CASE_BY_NUMBER_FOR_UPDATE if for_update else queries.GET_CASE_BY_NUMBER, ref
            )
    return await con.fetchrow(queries.GET_CASE_FOR_UPDATE if for_update else queries.GET_CASE, ref)


async def get(con: Connection, case_id: uuid.UUID) -> asyncpg.Record:
    """A case known to exist (by its id from the table)."""
    return _one(await con.fetchrow(queries.GET_CASE, case_id))


def _column(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


async def save(con: Connection, case: Case) -> asyncpg.Record:
    """Writes what the lifecycle changes; the row as stored."""
    return _one(
        await con.fetchrow(
            queries.UPDATE_CASE, case.id, *(_column(getattr(case, name)) for name in queries.UPDATE_CASE_FIELDS)
        )
    )


async def raise_report_count(con: Connection, case_id: uuid.UUID, by: int, at: datetime) -> asyncpg.Record:
    return _one(await con.fetchrow(queries.RAISE_REPORT_COUNT, case_id, by, at))


async def rate(con: Connection, case_id: uuid.UUID, score: int, note: str | None, at: datetime) -> asyncpg.Record:
    return _one(await con.fetchrow(queries.RATE, case_id, score, note, at))


async def add_attachment(con: Connection, case_id: uuid.UUID, url: str, at: datetime) -> asyncpg.Record:
    return _one(await con.fetchrow(queries.ADD_ATTACHMENT, case_id, url, at))


async def add_transition(
    con: Connection,
    what: str,
    before: Case | None,
    after: Case,
    *,
    actor: str,
    reason: str | None,
    data: dict[str, Any],
) -> None:
    """One line of the case's timeline (append-only), dated when `after` was written."""
    await con.execute(
        queries.INSERT_TRANSITION,
        after.id,
        what,
        before.status.value if before else None,
        after.status.value,
        before.level.value if before else None,
        after.level.value,
        actor,
        reason,
        data,
        after.updated_at,
    )


def outbox_values(event: CaseFacts, *, key: str) -> tuple[uuid.UUID, str, str, list[list[str]], dict[str, Any]]:
    """What outbox.add would write for `event`, for a statement that writes the outbox row itself (CREATE_CASE):
    the event id, topic, type, the CloudEvent headers and the payload as a JSON object; the key is the case id."""
    et = event_type_for(type(event))
    ce = CloudEvent(type=et.name, source=SOURCE, subject=key, traceparent=tracing.current_traceparent())
    headers = [[k, v.decode()] for k, v in ce.headers()]
    return uuid.UUID(ce.id), et.topic, et.name, headers, event.model_dump(mode="json")


async def publish(con: Connection, event: CaseFacts) -> None:
    """To the outbox, in the caller's transaction; the case id is the record key."""
    # a pool's connection proxy forwards every call to its connection
    await outbox.add(cast("asyncpg.Connection[asyncpg.Record]", con), event, key=event.case_id, source=SOURCE)

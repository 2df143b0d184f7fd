"""The in-app inbox of the signed-in person (their in_app deliveries), and the hub behind its server-sent-events
stream: one LISTEN connection per process; a NOTIFY carrying the person's sub (sent with the delivery's commit,
from whichever replica sent it) wakes that person's open streams."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg

from gov_contracts.errors import NotFound
from govkit.auth import Principal
from notifications import queries
from notifications.context import Context

log = logging.getLogger(__name__)
KEEPALIVE_S = 15.0


def item(row: asyncpg.Record) -> dict[str, Any]:
    facts = row["facts"]
    return {
        "id": str(row["id"]),
        "kind": row["kind"],
        "urgent": row["urgent"],
        "text": row["text"],
        "case_id": str(row["case_id"]) if row["case_id"] else None,
        "task_id": str(row["task_id"]) if row["task_id"] else None,
        "link": facts.get("link") or None,
        "status": row["status"],
        "sent_at": row["sent_at"],
        "read_at": row["read_at"],
    }


async def my_notifications(ctx: Context, p: Principal, unread_only: bool, limit: int) -> dict[str, Any]:
    async with ctx.pool.acquire() as con:
        rows = await con.fetch(queries.INBOX, p.sub, unread_only, None, limit)
        unread = await con.fetchval(queries.UNREAD_COUNT, p.sub)
    return {"unread": unread, "items": [item(r) for r in rows]}


async def mark_read(ctx: Context, p: Principal, delivery_id: uuid.UUID) -> dict[str, Any]:
    async with ctx.pool.acquire() as con:
        row = await con.fetchrow(queries.MARK_READ, delivery_id, p.sub, ctx.clock.now())
    if row is None:
        raise NotFound(f"no notification {delivery_id} in your inbox")
    return {"id": str(row["id"]), "status": row["status"], "read_at": row["read_at"]}


class InboxHub:
    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[None]]] = {}
        self._listener: asyncpg.Connection | None = None

    async def start(self, dsn: str, schema: str) -> None:
        try:
            self._listener = await asyncpg.connect(dsn, server_settings={"search_path": schema})
            await self._listener.add_listener("notifications_inbox", self._notified)
        except (OSError, asyncpg.PostgresError) as e:  # streams still poll every KEEPALIVE_S
            log.warning("inbox hub has no LISTEN connection (%s)", e)

    async def stop(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()

    def _notified(self, _con: object, _pid: int, _channel: str, sub: object) -> None:
        for q in self._queues.get(str(sub), ()):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(None)

    @contextlib.contextmanager
    def subscribe(self, sub: str):  # noqa: ANN201
        q: asyncio.Queue[None] = asyncio.Queue(maxsize=1)
        self._queues.setdefault(sub, set()).add(q)
        try:
            yield q
        finally:
            self._queues[sub].discard(q)
            if not self._queues[sub]:
                del self._queues[sub]


def _sse(row: asyncpg.Record) -> str:
    data = json.dumps(item(row), ensure_ascii=False, default=str)
    return f"id: {row['id']}\nevent: notification\ndata: {data}\n\n"


async def stream(ctx: Context, hub: InboxHub, p: Principal, last_event_id: str | None) -> AsyncIterator[str]:
    """New inbox items as server-sent events: those after Last-Event-ID first, then each as it arrives."""
    since: datetime | None = None
    if last_event_id:
        with contextlib.suppress(ValueError):
            async with ctx.pool.acquire() as con:
                since = await con.fetchval(queries.INBOX_ITEM_SENT_AT, uuid.UUID(last_event_id), p.sub)
    if since is None:
        since = ctx.clock.now()
    yield "retry: 3000\n\n"
    with hub.subscribe(p.sub) as wake:
        while True:
            async with ctx.pool.acquire() as con:
                rows = await con.fetch(queries.INBOX_SINCE, p.sub, since)
            for row in rows:
                since = max(since, row["sent_at"])
                yield _sse(row)
            try:
                await asyncio.wait_for(wake.get(), KEEPALIVE_S)
            except TimeoutError:
                yield ": keepalive\n\n"

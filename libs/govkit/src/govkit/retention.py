"""Bounded storage: published outbox rows and inbox rows are deleted after their
retention period, by one replica at a time (advisory lock), in small batches of
one short statement each, so no lock is held long and writers never wait long.

Pruning the inbox is safe for replays because of the watermark (govkit.inbox).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

import asyncpg

from govkit import inbox, metrics, outbox
from govkit.db import Connection
from govkit.periodic import Periodic

log = logging.getLogger(__name__)

LOCK = "select pg_try_advisory_lock(hashtext(current_schema() || '.retention'))"
UNLOCK = "select pg_advisory_unlock(hashtext(current_schema() || '.retention'))"


class Pruner(Protocol):
    """outbox.prune_published, inbox.prune: delete at most `batch` rows older than `older_than`, say how many."""

    def __call__(self, con: Connection, *, older_than: timedelta, batch: int) -> Awaitable[int]: ...


@dataclass
class Pruned:
    outbox: int = 0
    inbox: int = 0
    skipped: bool = False  # another replica held the lock
    batches: list[int] = field(default_factory=list)  # rows deleted by each statement

    @property
    def statements(self) -> int:
        return len(self.batches)


class RetentionJob:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        service: str,
        outbox_days: float = 7,
        inbox_days: float = 30,
        interval: float = 3600,
        batch: int = 1000,
        pause: float = 0.05,
    ):
        self.pool, self.service = pool, service
        self.outbox_keep, self.inbox_keep = timedelta(days=outbox_days), timedelta(days=inbox_days)
        self.interval, self.batch, self.pause = interval, batch, pause
        # the first round waits a little, not to be in the way of start-up
        self._timer = Periodic(f"retention-{service}", self._round, interval, first_delay=min(60.0, interval))

    def start(self) -> None:
        self._timer.start()

    async def stop(self) -> None:
        await self._timer.stop()

    async def _round(self) -> None:
        done = await self.run_once()
        if done.outbox or done.inbox:
            log.info(
                "retention pruned %d outbox and %d inbox rows in %d statements",
                done.outbox,
                done.inbox,
                done.statements,
            )

    async def run_once(self) -> Pruned:
        """Prune both tables unless another replica is doing it right now."""
        done = Pruned()
        async with self.pool.acquire() as con:
            if not await con.fetchval(LOCK):
                done.skipped = True
                return done
            try:
                done.outbox = await self._prune(con, "outbox", outbox.prune_published, self.outbox_keep, done)
                done.inbox = await self._prune(con, "inbox", inbox.prune, self.inbox_keep, done)
            finally:
                await con.execute(UNLOCK)
        return done

    async def _prune(self, con: Connection, table: str, prune: Pruner, keep: timedelta, done: Pruned) -> int:
        total = 0
        while True:
            n = await prune(con, older_than=keep, batch=self.batch)  # its own transaction: short locks
            done.batches.append(n)
            total += n
            metrics.RETENTION_PRUNED.labels(self.service, table).inc(n)
            if n < self.batch:
                return total
            await asyncio.sleep(self.pause)  # spread the deletes rather than one burst

"""Jobs a service process runs on a timer (deadline sweeps, offer expiry, the weekly publish, lag checks,
retention): one loop and one rule for their failures.

A round that fails because a dependency is out of reach (the database, the broker) is logged as a warning;
any other failure is ours and is logged with its stack. Either way the next round comes after the interval,
so nothing retries in a tight loop, and a job that can never succeed is visible in the log every round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from govkit import dead_letters, problems

log = logging.getLogger(__name__)


def unavailable(exc: BaseException) -> bool:
    """A dependency out of reach: the same work may succeed next time."""
    return isinstance(exc, problems.UNAVAILABLE) or dead_letters.transient(exc)


class Periodic:
    def __init__(self, name: str, job: Callable[[], Awaitable[object]], interval: float, *, first_delay: float = 0.0):
        self.name, self.job, self.interval, self.first_delay = name, job, interval, first_delay
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run_round(self) -> None:
        """One round; its failure is logged by the rule above, never raised."""
        try:
            await self.job()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            if unavailable(e):
                log.warning("%s: %s: %s; next round in %.0fs", self.name, type(e).__name__, e, self.interval)
            else:
                log.error("%s failed; next round in %.0fs", self.name, self.interval, exc_info=e)

    async def _run(self) -> None:
        await asyncio.sleep(self.first_delay)
        while True:
            await self.run_round()
            await asyncio.sleep(self.interval)

"""The candidate index of a running volunteers service: domain/dispatch_index.py kept current with the
database (docs/volunteers.md, "Dispatch index").

* Built at start from one REPEATABLE READ snapshot (INDEX_ALL), and built again every VERIFY_S in the
  background: the rebuilt index replaces the kept one, and the volunteers they held differently are logged
  (a drift that should never happen).
* Kept current by the change log (V005: a trigger on volunteers, leave, offers, assignments and the ledger
  writes one row per changed volunteer, stamped with the writing transaction's id). A refresh reads the
  volunteers changed by every transaction at or after the xmin of the previous refresh's snapshot, reads
  them afresh (INDEX_OF) and puts them in the index: whatever any replica or anyone else committed is
  seen by the next refresh, whatever its commit order.
* Refreshed after the service's own writes (`changed()`, in the background), every REFRESH_S, and before
  each ranking when the last refresh started more than `max_lag_s` ago (0 by default: every dispatch ranks
  from an index at least as recent as the database when the dispatch began).

The index only proposes: the dispatching transaction locks the proposed volunteers and checks them again
against the database before it offers (service.choose_candidates).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time as clock
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime, time
from typing import Any

import asyncpg

from govkit.periodic import Periodic
from volunteers import queries
from volunteers.domain import dispatch
from volunteers.domain.dispatch_index import HOURS_WINDOW, KEEP, DispatchIndex, Volunteer

log = logging.getLogger(__name__)

Row = asyncpg.Record | Mapping[str, Any]

REFRESH_S = 1.0  # background refresh: the staleness bound for changes nobody in this replica waits for
VERIFY_S = 900.0  # full rebuild and comparison
REBUILD_ABOVE = 1000  # a refresh that finds more changed volunteers rebuilds the structure at once
PRUNE_AFTER = "1 hour"  # change-log rows older than this are deleted by the verification round


def volunteer(r: Row, windows: dict[str, tuple[dispatch.Window, ...]] | None = None) -> Volunteer:
    """A row of INDEX_ALL / INDEX_OF as the index holds it (equal availability lists share their windows)."""
    avail = r["availability"]
    key = repr(avail)
    got = windows.get(key) if windows is not None else None
    if got is None:
        got = tuple(
            dispatch.Window(int(w["weekday"]), time.fromisoformat(w["start"]), time.fromisoformat(w["end"]))
            for w in avail
        )
        if windows is not None:
            windows[key] = got
    return Volunteer(
        id=str(r["id"]),
        roles=tuple(r["roles"]),
        home_grid=r["home_grid"],
        skills=frozenset(r["skills"]),
        availability=got,
        max_concurrent=r["max_concurrent"],
        load=r["load"],
        offers_made=r["offers_made"],
        offers_accepted=r["offers_accepted"],
        ledger=tuple((datetime.fromisoformat(at), int(c)) for at, c in r["ledger"]),
        leave=tuple((datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in r["leave"]),
    )


class CandidateIndex:
    def __init__(
        self,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
        *,
        max_lag_s: float = 0.0,
        refresh_s: float = REFRESH_S,
        verify_s: float = VERIFY_S,
    ):
        self._connect = connect
        self.max_lag_s = max_lag_s
        self.ix: DispatchIndex | None = None
        self._con: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()  # one refresh at a time, on self._con
        self._watermark = "0"
        self._horizon: datetime | None = None  # ledger entries and leave before this are not held
        self._requested = 0  # refresh tickets: asked for, and covered by a refresh started after them
        self._covered = 0
        self._last_start = 0.0  # monotonic start of the last completed refresh
        self._background: set[asyncio.Task[None]] = set()
        self._timers = [
            Periodic("dispatch index refresh", self.refresh, refresh_s, first_delay=refresh_s),
            Periodic("dispatch index verification", self.verify, verify_s, first_delay=verify_s),
        ]
        self.stats: dict[str, int] = {"builds": 0, "refreshes": 0, "reloaded": 0, "drift": 0}

    @property
    def ready(self) -> bool:
        return self.ix is not None

    # -- lifecycle ---------------------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.rebuild()
        for t in self._timers:
            t.start()

    async def stop(self) -> None:
        for t in self._timers:
            await t.stop()
        for task in list(self._background):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._con is not None:
            await self._con.close()
            self._con = None

    async def _connection(self) -> asyncpg.Connection:
        if self._con is None or self._con.is_closed():
            self._con = await self._connect()
        return self._con

    # -- building ----------------------------------------------------------------------------------------------

    async def _load_all(self) -> tuple[DispatchIndex, str, datetime]:
        con = await self._connect()
        windows: dict[str, tuple[dispatch.Window, ...]] = {}
        vols: list[Volunteer] = []
        try:
            async with con.transaction(isolation="repeatable_read", readonly=True):
                snap = await con.fetchrow(queries.INDEX_SNAPSHOT)
                assert snap is not None
                # a cursor, so that only a batch of rows is in memory beside the index being made
                async for r in con.cursor(queries.INDEX_ALL, snap["now"] - KEEP, prefetch=500):
                    vols.append(volunteer(r, windows))
        finally:
            await con.close()
        return DispatchIndex.build(vols, snap["now"]), snap["xmin"], snap["now"] - KEEP

    async def rebuild(self) -> list[str]:
        """Build afresh from one snapshot and replace the index; the volunteers the old one held differently
        (other than those changed meanwhile) are returned."""
        t0 = clock.perf_counter()
        new, xmin, horizon = await self._load_all()
        async with self._lock:
            old = self.ix
            if old is not None:
                await self._refresh_locked()  # the old one as of now ...
            self.ix, self._watermark, self._horizon = new, xmin, horizon
            meanwhile = await self._refresh_locked()  # ... and the new one, with what changed since its snapshot
        self.stats["builds"] += 1
        drift: list[str] = []
        if old is not None:
            drift = [i for i in old.same_as(new, since=horizon) if i not in meanwhile]
            self.stats["drift"] += len(drift)
            if drift:
                log.warning(
                    "dispatch index: %d volunteer(s) held differently from the database, e.g. %s", len(drift), drift[:3]
                )
        log.info("dispatch index: %d volunteers built in %.0f ms", len(new), (clock.perf_counter() - t0) * 1000)
        return drift

    async def verify(self) -> None:
        await self.rebuild()
        con = await self._connection()
        async with self._lock:
            await con.execute(queries.PRUNE_DISPATCH_CHANGES, PRUNE_AFTER)

    # -- refreshing --------------------------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Bring the index up to what the database holds now; concurrent callers share one refresh that
        started after they asked."""
        self._requested += 1
        ticket = self._requested
        async with self._lock:
            if self._covered >= ticket or self.ix is None:
                return
            target = self._requested
            await self._refresh_locked()
            self._covered = target

    async def fresh(self) -> None:
        """Refresh unless the last refresh started less than max_lag_s ago."""
        if clock.monotonic() - self._last_start > self.max_lag_s or self.max_lag_s <= 0:
            await self.refresh()

    def changed(self) -> None:
        """The service committed a write ranking reads: refresh in the background."""
        if self.ix is None:
            return
        task = asyncio.get_running_loop().create_task(self._quiet_refresh())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _quiet_refresh(self) -> None:
        try:
            await self.refresh()
        except Exception as e:  # the timer's refresh retries; a dispatch refreshes before it ranks
            log.warning("dispatch index refresh after a write: %s: %s", type(e).__name__, e)

    async def _refresh_locked(self) -> set[str]:
        try:
            return await self._refresh_once()
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            if self._con is not None:  # start on a new connection next time
                self._con.terminate()
                self._con = None
            raise

    async def _refresh_once(self) -> set[str]:
        ix = self.ix
        assert ix is not None
        started = clock.monotonic()
        con = await self._connection()
        row = await con.fetchrow(queries.INDEX_CHANGED, self._watermark)
        assert row is not None
        changed = list(row["changed"])
        if changed:
            horizon = row["now"] - KEEP
            if len(changed) > REBUILD_ABOVE:
                await self._apply_many(ix, changed, horizon)
            else:
                self._apply(ix, [str(i) for i in changed], await con.fetch(queries.INDEX_OF, horizon, changed))
            self._horizon = max(self._horizon or horizon, horizon)
        self._watermark = row["xmin"]
        self._last_start = started
        self.stats["refreshes"] += 1
        self.stats["reloaded"] += len(changed)
        return {str(i) for i in changed}

    async def _apply_many(self, ix: DispatchIndex, changed: list[Any], horizon: datetime) -> None:
        """Many changed volunteers (a bulk import, another replica's backlog): the structure made anew."""
        con = await self._connection()
        windows: dict[str, tuple[dispatch.Window, ...]] = {}
        gone = {str(i) for i in changed}
        vols = [v for v in ix.volunteers() if v.id not in gone]
        async with con.transaction(readonly=True):
            async for r in con.cursor(queries.INDEX_OF, horizon, changed, prefetch=500):
                if r["active"]:
                    vols.append(volunteer(r, windows))
        self.ix = DispatchIndex.build(vols, ix.now)

    def _apply(self, ix: DispatchIndex, changed: list[str], rows: Iterable[Row]) -> None:
        fresh = {str(r["id"]): r for r in rows}
        for vid in changed:
            r = fresh.get(vid)
            if r is None or not r["active"]:
                ix.remove(vid)
            else:
                ix.put(volunteer(r))

    # -- asking --------------------------------------------------------------------------------------------------

    def rank(self, task: dispatch.TaskSpec, now: datetime, limit: int | None = None) -> list[dispatch.Candidate] | None:
        """The best `limit` eligible candidates of `task`, or None when the index cannot answer (not built
        yet, or the task's window or the hours' 30 days reach before what it holds): rank in SQL then."""
        ix = self.ix
        if ix is None or self._horizon is None:
            return None
        now = max(now, ix.now)  # hours counted at the later of the caller's clock and the last refresh
        if task.window_start < self._horizon or now - HOURS_WINDOW < self._horizon:
            return None
        return ix.rank(task, now, limit)

    def __len__(self) -> int:
        return 0 if self.ix is None else len(self.ix)


def volunteers_changed(index: CandidateIndex | None) -> None:
    if index is not None:
        index.changed()

"""What every use case of the volunteers service is given: the pool, the
configuration, the pseudonym key and the candidate index (None: dispatch ranks
in SQL, as tests that build a Context by hand do). Built once when the service starts
(app.py) and passed explicitly to routes (api/deps.py), event handlers and
timers; never held in a module global."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from gov_contracts.errors import NotFound
from govkit import db, pseudonym
from volunteers.candidate_index import CandidateIndex
from volunteers.config import VolunteersConfig

# what the use cases are handed: a connection of their own or one from the pool
Connection = db.Connection
Row = asyncpg.Record | Mapping[str, Any]


async def fetch_one(con: Connection, query: str, *args: Any) -> asyncpg.Record:
    """The row of a statement that always answers one: an aggregate, an INSERT ... RETURNING, an UPDATE ...
    RETURNING of a row known to exist."""
    row = await con.fetchrow(query, *args)
    assert row is not None, "the statement answers one row"
    return row


async def fetch_existing(con: Connection, query: str, *args: Any, missing: str) -> asyncpg.Record:
    """The row a lookup must find (its id comes from the database); NotFound(`missing`) should it be gone."""
    row = await con.fetchrow(query, *args)
    if row is None:
        raise NotFound(missing)
    return row


@dataclass
class Context:
    pool: asyncpg.Pool
    config: VolunteersConfig
    pseudonym_key: str
    index: CandidateIndex | None = None

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[Connection]:
        """A connection in a transaction; once it has committed, the index catches up (changed())."""
        async with self.pool.acquire() as con, con.transaction():
            yield con
        self.changed()

    def changed(self) -> None:
        """A write that ranking reads has committed (a volunteer, leave, an offer, an assignment, the ledger):
        the index refreshes in the background (candidate_index.py)."""
        if self.index is not None:
            self.index.changed()

    def vref(self, volunteer_id: Any) -> str:
        """The pseudonymous reference events and reports carry instead of the volunteer's id."""
        return pseudonym.ref(self.pseudonym_key, "volunteer", str(volunteer_id))

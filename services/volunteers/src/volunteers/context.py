"""What every use case of the volunteers service is given: the pool, the
configuration and the pseudonym key. Built once when the service starts
(app.py) and passed explicitly to routes (api/deps.py), event handlers and
timers; never held in a module global."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from gov_contracts.errors import NotFound
from govkit import db, pseudonym
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

    def vref(self, volunteer_id: Any) -> str:
        """The pseudonymous reference events and reports carry instead of the volunteer's id."""
        return pseudonym.ref(self.pseudonym_key, "volunteer", str(volunteer_id))

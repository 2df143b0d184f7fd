"""What every use case of the volunteers service is given: the pool, the
configuration and the pseudonym key. Built once when the service starts
(app.py) and passed explicitly to routes (api/deps.py), event handlers and
timers; never held in a module global."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from govkit import pseudonym
from volunteers.config import VolunteersConfig

# what the use cases are handed: a connection of their own or one from the pool
Connection = asyncpg.Connection | PoolConnectionProxy
Row = asyncpg.Record | Mapping[str, Any]


@dataclass
class Context:
    pool: asyncpg.Pool
    config: VolunteersConfig
    pseudonym_key: str

    def vref(self, volunteer_id: Any) -> str:
        """The pseudonymous reference events and reports carry instead of the volunteer's id."""
        return pseudonym.ref(self.pseudonym_key, "volunteer", str(volunteer_id))

"""What every use case of the notifications service is given: the pool, the configuration and the clock (an
injectable one in tests). Built once when the service starts (app.py); never held in a module global."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from govkit.clock import Clock, SystemClock
from notifications.config import NotificationsConfig, Rules

Row = asyncpg.Record | Mapping[str, Any]  # a row as asyncpg gives it, or a plain mapping in tests


@dataclass
class Context:
    pool: asyncpg.Pool
    config: NotificationsConfig
    clock: Clock = field(default_factory=SystemClock)

    @property
    def rules(self) -> Rules:
        return self.config.loaded

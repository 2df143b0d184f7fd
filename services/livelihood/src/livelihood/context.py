"""What every use case of the livelihood service is given: the pool, the configuration and the clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import asyncpg

from gov_contracts.vocabulary import LOCAL_TZ
from govkit.clock import Clock, FileOffsetClock, SystemClock
from livelihood.config import LivelihoodConfig, Rules

Row = asyncpg.Record | Mapping[str, Any]
__all__ = ["Context", "FileOffsetClock", "Row"]


@dataclass
class Context:
    pool: asyncpg.Pool
    config: LivelihoodConfig
    clock: Clock = field(default_factory=SystemClock)

    @property
    def rules(self) -> Rules:
        return self.config.loaded

    def today(self) -> date:
        return self.clock.now().astimezone(LOCAL_TZ).date()

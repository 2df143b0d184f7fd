"""What every use case of the livelihood service is given: the pool, the configuration and the clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from gov_contracts.vocabulary import LOCAL_TZ
from govkit.clock import Clock, SystemClock
from livelihood.config import LivelihoodConfig, Rules

Row = asyncpg.Record | Mapping[str, Any]


class FileOffsetClock:
    """Development and tests: the system time plus the number of seconds written in a file (0 when absent),
    so an e2e test can let a 7-day notice period pass."""

    def __init__(self, path: str):
        self.path = Path(path)

    def now(self) -> datetime:
        try:
            offset = float(self.path.read_text().strip() or 0)
        except (OSError, ValueError):
            offset = 0.0
        return datetime.now(UTC) + timedelta(seconds=offset)


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

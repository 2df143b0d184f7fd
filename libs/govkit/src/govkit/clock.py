"""The time a use case reads: the system's, or an injected one in tests and drills."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FileOffsetClock:
    """Development, drills and tests: the system time plus the number of seconds written in a file (0 when absent
    or unreadable), so an e2e test can let a notice period pass or a case sit across a holiday. Each service
    refuses it in production."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def now(self) -> datetime:
        try:
            offset = float(self.path.read_text().strip() or 0)
        except (OSError, ValueError):
            offset = 0.0
        return datetime.now(UTC) + timedelta(seconds=offset)

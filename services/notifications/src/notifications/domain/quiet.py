"""Quiet hours: non-urgent messages wait until the quiet period ends; urgent ones always go out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from gov_contracts.vocabulary import LOCAL_TZ


@dataclass(frozen=True)
class QuietHours:
    start: time  # local (Asia/Shanghai) wall-clock times; start > end spans midnight (22:00-07:00)
    end: time

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("quiet hours: start and end must differ")

    def contains(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


def release_at(now: datetime, quiet: QuietHours | None, urgent: bool) -> datetime:
    """When a message made at `now` may go out: now, or the end of the quiet period it falls in."""
    if urgent or quiet is None:
        return now
    local = now.astimezone(LOCAL_TZ)
    if not quiet.contains(local.time().replace(tzinfo=None)):
        return now
    end = local.replace(hour=quiet.end.hour, minute=quiet.end.minute, second=0, microsecond=0)
    if end <= local:
        end = (local + timedelta(days=1)).replace(hour=quiet.end.hour, minute=quiet.end.minute, second=0, microsecond=0)
    return end

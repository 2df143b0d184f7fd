"""Keyset (cursor) pagination over (created_at, id), newest first: stable under inserts."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any, Protocol, TypeVar

from govkit.inputs import year_in_range
from govkit.problems import Problem


class Keyed(Protocol):
    """A row with `created_at` and `id` columns: an asyncpg Record, or a dict."""

    def __getitem__(self, key: str, /) -> Any: ...


Row = TypeVar("Row", bound=Keyed)


def encode(row: Keyed) -> str:
    return base64.urlsafe_b64encode(json.dumps([row["created_at"].isoformat(), str(row["id"])]).encode()).decode()


def decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        at, rid = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        decoded = datetime.fromisoformat(at), uuid.UUID(rid)
        if not year_in_range(decoded[0]):
            raise ValueError("out of range")
        return decoded
    except Exception:  # whatever is wrong with it, the client sent a cursor we did not make
        raise Problem(
            422,
            "Invalid request",
            "query.cursor: not a cursor this API returned",
            errors=[{"field": "query.cursor", "message": "invalid cursor"}],
        ) from None


def page(rows: list[Row], limit: int) -> tuple[list[Row], str | None]:
    """Rows fetched with limit + 1: (this page, the next cursor or None)."""
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode(rows[-1]) if more else None

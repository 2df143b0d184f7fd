"""The facts every proposal event carries, and publishing through the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gov_contracts.base import EventModel
from govkit import outbox
from govkit.db import Connection
from livelihood.context import Row

SOURCE = "livelihood"


def facts(p: Row, at: datetime, actor: str) -> dict[str, Any]:
    return {
        "proposal_id": str(p["id"]),
        "number": p["number"],
        "village_id": p["village_id"],
        "grid_ids": list(p["grid_ids"]),
        "category": p["category"],
        "flow": p["flow"],
        "stage": p["stage"],
        "budget_yuan": p["budget"],
        "occurred_at": at,
        "actor": actor,
    }


async def publish(con: Connection, event: EventModel, key: str) -> None:
    await outbox.add(con, event, key=key, source=SOURCE)

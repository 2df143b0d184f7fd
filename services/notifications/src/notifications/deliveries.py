"""The delivery log as staff read it: what was sent about a case or task, to whom (masked), on which channel,
with every attempt. Scoped to the caller's areas; no address in clear, no link."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from gov_contracts.errors import Forbidden
from govkit.auth import Principal
from notifications import queries
from notifications.context import Context

READERS = ("grid_manager", "village_admin", "town_admin", "county_admin", "operator")


async def log_of(
    ctx: Context,
    p: Principal,
    *,
    case_id: uuid.UUID | None,
    task_id: uuid.UUID | None,
    kind: str | None,
    status: str | None,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[dict[str, Any]]:
    if not p.has_role(*READERS):
        raise Forbidden(f"needs one of the roles: {', '.join(READERS)}")
    async with ctx.pool.acquire() as con:
        rows = await con.fetch(
            queries.DELIVERY_LOG,
            case_id,
            task_id,
            kind,
            status,
            p.visible_areas(),
            before[0] if before else None,
            before[1] if before else None,
            limit,
        )
        attempts: dict[uuid.UUID, list[dict[str, Any]]] = {}
        for a in await con.fetch(queries.ATTEMPTS_OF, [r["id"] for r in rows]):
            attempts.setdefault(a["delivery_id"], []).append(
                {"attempt": a["attempt"], "at": a["at"], "outcome": a["outcome"], "reason": a["reason"]}
            )
    out = []
    for r in rows:
        d = dict(r)
        d["recipient"] = _masked_recipient(r["recipient"])
        d["attempts_log"] = sorted(attempts.get(r["id"], []), key=lambda a: a["attempt"])
        out.append(d)
    return out


def _masked_recipient(recipient: str) -> str:
    """Staff accounts and robot ids are shown; a volunteer is shown by the start of their pseudonym only."""
    kind, _, ref = recipient.partition(":")
    return f"volunteer:{ref[:8]}…" if kind == "volunteer" else recipient

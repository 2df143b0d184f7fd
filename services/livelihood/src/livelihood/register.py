"""The register of villagers' representatives (村民代表) per village with their term, managed by the town.
Names and phones are personal data: shown only with personal_data:read, and each such read is audited."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from gov_contracts.errors import Forbidden, InvalidInput
from govkit.auth import PERSONAL_DATA, Principal
from livelihood import queries
from livelihood.context import Context, Row

MANAGERS = ("town_admin",)


async def register(
    ctx: Context, p: Principal, village_id: str, sub: str, name: str, phone: str | None, start: date, end: date
) -> dict[str, Any]:
    if not p.has_role(*MANAGERS):
        raise Forbidden("the representatives' register is managed by a town_admin")
    if not p.covers(village_id):
        raise Forbidden(f"your area scope does not cover {village_id}")
    if end <= start:
        raise InvalidInput("body.term_end", "must be after term_start")
    async with ctx.pool.acquire() as con:
        village = await con.fetchrow(queries.AREA, village_id)
        if village is None or village["kind"] not in ("village", "community"):
            raise InvalidInput("body.village_id", f"{village_id!r} is not a village or community")
        row = await con.fetchrow(queries.INSERT_REPRESENTATIVE, uuid.uuid4(), village_id, sub, name, phone, start, end)
    assert row is not None
    return view(row, personal=False)


def view(row: Row, personal: bool) -> dict[str, Any]:
    return {
        "village_id": row["village_id"],
        "sub": row["sub"],
        "term_start": row["term_start"],
        "term_end": row["term_end"],
        "name": row["name"] if personal else None,
        "phone": row["phone"] if personal else None,
    }


async def representatives(ctx: Context, p: Principal, village_id: str, on: date | None) -> list[dict[str, Any]]:
    if not p.covers(village_id):
        raise Forbidden(f"your area scope does not cover {village_id}")
    personal = p.can(PERSONAL_DATA)
    async with ctx.pool.acquire() as con, con.transaction():
        rows = await con.fetch(queries.REPRESENTATIVES_OF, village_id, on)
        if personal and rows:
            await con.execute(queries.AUDIT_READ, [r["sub"] for r in rows], p.sub, "representatives list")
    return [view(r, personal) for r in rows]

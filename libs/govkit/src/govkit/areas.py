"""Each service's own copy of the area tree, fed by the compacted areas topic."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import cast

import asyncpg
from fastapi import APIRouter, Request
from pydantic import BaseModel

from gov_contracts import CloudEvent
from gov_contracts.areas import AreaUpserted
from govkit.consumer import Handler
from govkit.db import Connection

UPSERT = """
insert into areas (id, path, kind, name, parent_id, invented, tree_version, geometry, updated_at)
values ($1::text, $1::text::ltree, $2, $3, $4, $5, $6, $7::jsonb, now())
on conflict (id) do update set kind = excluded.kind, name = excluded.name, parent_id = excluded.parent_id,
    invented = excluded.invented, tree_version = excluded.tree_version, geometry = excluded.geometry,
    updated_at = now()
"""
SELECT_ALL = "select id, kind, name, parent_id, invented, tree_version from areas order by id"
SUBTREE_IDS = "select id from areas where path <@ $1::ltree order by id"
KNOWN_IDS = "select id from areas where id = any($1::text[])"


async def on_area_upserted(con: Connection, event: AreaUpserted, _: CloudEvent) -> None:
    geometry = event.geometry.model_dump(mode="json") if event.geometry is not None else None
    await con.execute(
        UPSERT, event.id, event.kind.value, event.name, event.parent_id, event.invented, event.tree_version, geometry
    )


# the consumer hands a handler only instances of the model of its type name (AreaUpserted here)
HANDLERS: dict[str, Handler] = {"gov.area.upserted.v1": cast(Handler, on_area_upserted)}


class KnownAreas:
    """Which area ids this service's copy of the tree holds, for checking the area scopes of tokens.

    Areas are only ever added, so an id once found stays known; an id not yet seen is looked up in the
    table (it may have arrived on the areas topic since), and one that is not there is unknown.
    """

    def __init__(self, pool: asyncpg.Pool | None, ids: Iterable[str] = ()):
        self.pool = pool
        self._ids = set(ids)

    async def unknown(self, area_ids: Iterable[str]) -> list[str]:
        todo = [a for a in dict.fromkeys(area_ids) if a not in self._ids]
        if todo and self.pool is not None:
            async with self.pool.acquire() as con:
                self._ids.update(r["id"] for r in await con.fetch(KNOWN_IDS, todo))
        return [a for a in todo if a not in self._ids]


class AreaRead(BaseModel):
    id: str
    kind: str
    name: str
    parent_id: str | None
    invented: bool


class AreaTree(BaseModel):
    count: int
    checksum: str  # sha256 over (id, kind, name, parent) of every area: equal trees have equal checksums
    tree_versions: list[str]
    areas: list[AreaRead]


def tree_checksum(areas: list[AreaRead]) -> str:
    h = hashlib.sha256()
    for a in sorted(areas, key=lambda a: a.id):
        h.update(f"{a.id}\t{a.kind}\t{a.name}\t{a.parent_id or ''}\n".encode())
    return h.hexdigest()


router = APIRouter(tags=["areas"])


@router.get("/v1/areas", response_model=AreaTree, summary="This service's copy of the area tree")
async def list_areas(request: Request) -> AreaTree:
    async with request.app.state.pool.acquire() as con:
        rows = await con.fetch(SELECT_ALL)
    areas = [AreaRead(**{k: r[k] for k in ("id", "kind", "name", "parent_id", "invented")}) for r in rows]
    return AreaTree(
        count=len(areas),
        checksum=tree_checksum(areas),
        tree_versions=sorted({r["tree_version"] for r in rows}),
        areas=areas,
    )

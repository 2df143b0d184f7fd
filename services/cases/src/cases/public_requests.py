"""Use cases of the public reads (Open311): which cases anyone may look up, without credentials.

A category's `visibility` decides (docs/decisions.md 24): a hidden category's
cases are neither listed nor found by number, as if they did not exist. What a
listed case shows is the Open311 view's business (api/open311/views.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import asyncpg

from cases import queries
from cases.domain.policy import Visibility
from cases.service import Context


@dataclass(frozen=True)
class PublicFilter:
    """Empty fields filter nothing; `numbers`, when given, is used alone by the Open311 form."""

    numbers: Sequence[str] = ()
    categories: Sequence[str] = ()
    created_from: datetime | None = None
    created_until: datetime | None = None  # inclusive
    statuses: Sequence[str] = ()
    area: str | None = None  # an area id: the cases of its grids (a grid's own, a village's, the town's)
    placed: bool = False  # only cases with coordinates


def _where(hidden: Sequence[str], wanted: PublicFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for fragment, value in (
        (queries.F_NOT_CATEGORY, list(hidden)),
        (queries.F_NUMBERS, list(wanted.numbers)),
        (queries.F_CATEGORY, list(wanted.categories)),
        (queries.F_FROM, wanted.created_from),
        (queries.F_UNTIL, wanted.created_until),
        (queries.F_STATUS, list(wanted.statuses)),
        (queries.F_AREA, wanted.area),
    ):
        if value:
            args.append(value)
            clauses.append(fragment.format(n=len(args)))
    if wanted.placed:
        clauses.append(queries.F_PLACED)
    return " and ".join(clauses) or "true", args


async def list_public(ctx: Context, wanted: PublicFilter, *, limit: int) -> list[asyncpg.Record]:
    """Cases of categories that are not hidden, newest first."""
    where, args = _where(ctx.policy.with_visibility(Visibility.hidden), wanted)
    sql = queries.LIST_SELECT + " where " + where + queries.LIST_ORDER.format(limit=limit)
    async with ctx.pool.acquire() as con:
        return list(await con.fetch(sql, *args))


async def area_kind(ctx: Context, area_id: str) -> str | None:
    """The kind of the area (town, village, community, grid) in the service's copy of the tree; None when unknown."""
    async with ctx.pool.acquire() as con:
        kind: str | None = await con.fetchval(queries.GRID_EXISTS, area_id)
    return kind


async def list_public_places(ctx: Context, wanted: PublicFilter, *, limit: int) -> list[asyncpg.Record]:
    """Cases a public map may show, newest first: of a `public` category only (a status_only case shows no place,
    a hidden one is not there at all) and with coordinates; `wanted.categories`, when given, narrows them."""
    public = ctx.policy.with_visibility(Visibility.public)
    categories = [c for c in wanted.categories if c in public] if wanted.categories else public
    if not categories:
        return []
    return await list_public(ctx, replace(wanted, categories=categories, placed=True), limit=limit)


async def get_public(ctx: Context, number: str) -> asyncpg.Record | None:
    """The case with this number, or None when there is none or its category is hidden."""
    async with ctx.pool.acquire() as con:
        row = await con.fetchrow(queries.GET_CASE_BY_NUMBER, number)
    if row is None or ctx.policy.visibility(row["category"]) is Visibility.hidden:
        return None
    return row


async def public_media(ctx: Context, media_id: str) -> tuple[bytes, str] | None:
    """The media sent with an Open311 report, while its category's visibility is `public`; else None."""
    try:
        wanted = uuid.UUID(media_id)
    except ValueError:
        return None
    async with ctx.pool.acquire() as con:
        row = await con.fetchrow(queries.PUBLIC_MEDIA, wanted)
    if row is None or ctx.policy.visibility(row["category"]) is not Visibility.public:
        return None
    stored = await ctx.blobs.get(row["storage_key"])
    return (stored[0], row["content_type"]) if stored else None

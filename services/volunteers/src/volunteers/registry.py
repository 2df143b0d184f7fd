"""Use cases of the volunteer registry: registration, the volunteer's own and
others' records (personal data audited), leave, the hours and points ledger
with its corrections, the staff listing. One transaction each."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg

from gov_contracts import volunteers as volunteer_events
from gov_contracts.errors import NotFound
from govkit import outbox, pagination
from govkit.auth import PERSONAL_DATA, Principal
from volunteers import access, queries
from volunteers.context import Connection, Context, fetch_one
from volunteers.domain import registry
from volunteers.domain.registry import NewVolunteer

SOURCE = "volunteers"


async def register_volunteer(
    con: Connection, ctx: Context, new: NewVolunteer, *, field_prefix: str = "body"
) -> asyncpg.Record:
    """Insert a volunteer (the caller holds the transaction)."""
    kind = await con.fetchval(queries.AREA_KIND, new.home_grid)
    registry.check_grid(f"{field_prefix}.home_grid", new.home_grid, kind)
    now = await con.fetchval(queries.DB_NOW)
    try:
        row = await fetch_one(
            con,
            queries.INSERT_VOLUNTEER,
            uuid.uuid4(),
            new.external_id,
            new.account_sub,
            new.name,
            new.phone,
            new.roles,
            new.party_branch,
            new.home_grid,
            new.skills,
            new.availability,
            new.max_concurrent,
            new.active,
            now,
        )
    except asyncpg.UniqueViolationError as e:
        field = "account_sub" if "account_sub" in str(e) else "external_id"
        raise registry.AlreadyRegistered(f"{field_prefix}.{field}") from None
    await outbox.add(
        con,
        volunteer_events.VolunteerRegisteredV2(
            volunteer_ref=ctx.vref(row["id"]),
            roles=list(row["roles"]),
            party_member="party_member" in row["roles"],
            home_grid=row["home_grid"],
            skills=list(row["skills"]),
            active=row["active"],
            occurred_at=now,
        ),
        key=str(row["id"]),
        source=SOURCE,
    )
    return row


async def register(ctx: Context, new: NewVolunteer) -> asyncpg.Record:
    async with ctx.writing() as con:
        return await register_volunteer(con, ctx, new)


async def _visible(con: Connection, p: Principal, volunteer_id: uuid.UUID) -> asyncpg.Record:
    row = await con.fetchrow(queries.GET_VOLUNTEER, volunteer_id)
    if row is None or not access.may_see_volunteer(p, row):
        raise NotFound(f"no volunteer {volunteer_id}")
    return row


async def my_record(ctx: Context, p: Principal) -> asyncpg.Record:
    async with ctx.pool.acquire() as con:
        row = await con.fetchrow(queries.GET_VOLUNTEER_BY_SUB, p.sub)
    if row is None:
        raise NotFound("your account is not registered as a volunteer")
    return row


@dataclass(frozen=True)
class VolunteerView:
    row: asyncpg.Record
    personal: bool  # name and phone may be shown


async def read_volunteer(ctx: Context, volunteer_id: uuid.UUID, p: Principal) -> VolunteerView:
    """Name and phone for the volunteer themself, or with personal_data:read, audited."""
    async with ctx.writing() as con:
        row = await _visible(con, p, volunteer_id)
        own = row["account_sub"] == p.sub
        personal = own or p.can(PERSONAL_DATA)
        if personal and not own:
            await con.execute(queries.AUDIT_PERSONAL_READ, row["id"], p.sub, ["name", "phone"])
    return VolunteerView(row, personal)


async def add_leave(
    ctx: Context, volunteer_id: uuid.UUID, starts: datetime, ends: datetime, reason: str | None, p: Principal
) -> None:
    registry.check_leave(starts, ends)
    async with ctx.writing() as con:
        row = await _visible(con, p, volunteer_id)
        await con.execute(queries.INSERT_LEAVE, row["id"], starts, ends, reason)


@dataclass(frozen=True)
class Ledger:
    totals: asyncpg.Record
    entries: list[asyncpg.Record]


async def ledger(ctx: Context, volunteer_id: uuid.UUID, p: Principal) -> Ledger:
    async with ctx.pool.acquire() as con:
        row = await _visible(con, p, volunteer_id)
        return Ledger(await fetch_one(con, queries.TOTALS, row["id"]), await con.fetch(queries.LEDGER, row["id"]))


async def correct_hours(
    ctx: Context,
    volunteer_id: uuid.UUID,
    *,
    task_id: uuid.UUID | None,
    hours_delta: float,
    points_delta: int,
    reason: str,
    principal: Principal,
) -> asyncpg.Record:
    """A signed correction recorded with who and why; admins only (checked by the caller)."""
    async with ctx.writing() as con:
        v = await con.fetchrow(queries.GET_VOLUNTEER, volunteer_id)
        if v is None or not principal.covers(v["home_grid"]):
            raise NotFound(f"no volunteer {volunteer_id}")
        now = await con.fetchval(queries.DB_NOW)
        await con.execute(
            queries.INSERT_LEDGER,
            volunteer_id,
            task_id,
            "correction",
            Decimal(str(hours_delta)),
            points_delta,
            principal.sub,
            reason,
            now,
        )
        await outbox.add(
            con,
            volunteer_events.HoursCorrected(
                volunteer_ref=ctx.vref(volunteer_id),
                task_id=str(task_id) if task_id else None,
                hours_delta=hours_delta,
                points_delta=points_delta,
                actor=principal.sub,
                reason=reason,
                occurred_at=now,
            ),
            key=str(volunteer_id),
            source=SOURCE,
        )
        return await fetch_one(con, queries.TOTALS, volunteer_id)


@dataclass(frozen=True)
class VolunteerFilter:
    area: str | None = None
    role: str | None = None
    skill: str | None = None
    active: bool | None = None


async def list_volunteers(
    ctx: Context, p: Principal, where: VolunteerFilter, *, cursor: str | None, limit: int
) -> tuple[list[asyncpg.Record], str | None]:
    """Staff and analysts: the volunteers in their areas, newest first, a page at a time."""
    access.require_roles(p, access.VIEWERS)
    area = registry.check_area_filter(where.area)
    at, cid = pagination.decode(cursor) if cursor else (None, None)
    async with ctx.pool.acquire() as con:
        rows = await con.fetch(
            queries.LIST_VOLUNTEERS, p.visible_areas(), area, where.role, where.skill, where.active, at, cid, limit + 1
        )
    return pagination.page(rows, limit)

"""Use cases of the staff directory, the on-duty roster (值班表), the group robots and people's preferences,
managed by a town administrator; each loads, authorizes, applies and saves in one transaction, raising the
domain errors of gov_contracts.errors. Reading a staff member's contacts needs personal_data:read and is audited."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, time
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from gov_contracts.errors import Forbidden, InvalidInput, NotFound
from govkit.auth import PERSONAL_DATA, Principal
from govkit.db import Connection
from notifications import queries
from notifications.context import Context
from notifications.domain.kinds import PERSONAL_CHANNELS, Kind

ADMINS = ("town_admin",)
READERS = ("town_admin", "village_admin", "county_admin", "operator")
CONTACT_FIELDS = ("phone", "email")


@dataclass(frozen=True)
class StaffEntry:
    sub: str
    name: str
    role: str
    area_id: str
    unit: str | None = None
    phone: str | None = None
    email: str | None = None
    active: bool = True


def require_admin(p: Principal, area_id: str | None = None) -> None:
    if not p.has_role(*ADMINS):
        raise Forbidden("the staff directory, roster and robots are managed by a town_admin")
    if area_id is not None and not p.covers(area_id):
        raise Forbidden(f"your area scope does not cover {area_id}")


def require_reader(p: Principal) -> None:
    if not p.has_role(*READERS):
        raise Forbidden(f"needs one of the roles: {', '.join(READERS)}")


async def _check_areas(con: Connection, fields_and_areas: Sequence[tuple[str, str]]) -> None:
    for field, area in fields_and_areas:
        if await con.fetchval(queries.AREA_KIND, area) is None:
            raise InvalidInput(field, f"{area!r} is not a known area")


def public_staff(row: asyncpg.Record | dict[str, Any], with_contacts: bool) -> dict[str, Any]:
    out = {k: row[k] for k in ("sub", "name", "role", "area_id", "unit", "active")}
    for k in CONTACT_FIELDS:
        out[k] = row[k] if with_contacts else None
    out["has_phone"], out["has_email"] = row["phone"] is not None, row["email"] is not None
    return out


async def save_staff(ctx: Context, p: Principal, entries: Sequence[StaffEntry], field_prefix: str = "body") -> int:
    """Insert or update entries (one transaction: all or none); the number newly created."""
    for e in entries:
        require_admin(p, e.area_id)
    created = 0
    async with ctx.pool.acquire() as con, con.transaction():
        where = [f"{field_prefix}[{i}]" if len(entries) > 1 else field_prefix for i in range(len(entries))]
        await _check_areas(con, [(f"{at}.area_id", e.area_id) for at, e in zip(where, entries, strict=True)])
        for e in entries:
            row = await con.fetchrow(
                queries.UPSERT_STAFF, e.sub, e.name, e.role, e.area_id, e.unit, e.phone, e.email, e.active
            )
            created += bool(row and row["created"])
    return created


async def list_staff(ctx: Context, p: Principal, role: str | None, limit: int) -> list[dict[str, Any]]:
    require_reader(p)
    with_contacts = p.can(PERSONAL_DATA)
    async with ctx.pool.acquire() as con, con.transaction():
        rows = await con.fetch(queries.LIST_STAFF, p.visible_areas(), role, limit)
        if with_contacts and rows:
            await con.execute(queries.AUDIT_READ, [r["sub"] for r in rows], p.sub, "staff list")
    return [public_staff(r, with_contacts) for r in rows]


async def get_staff(ctx: Context, p: Principal, sub: str) -> dict[str, Any]:
    require_reader(p)
    with_contacts = p.can(PERSONAL_DATA)
    async with ctx.pool.acquire() as con, con.transaction():
        row = await con.fetchrow(queries.GET_STAFF, sub)
        if row is None or not p.covers(row["area_id"]):
            raise NotFound(f"no staff member {sub}")
        if with_contacts:
            await con.execute(queries.AUDIT_READ, [sub], p.sub, "staff detail")
    return public_staff(row, with_contacts)


# -- roster --------------------------------------------------------------------------------------------------------


async def set_roster(
    ctx: Context, p: Principal, days: Sequence[tuple[date, str, Sequence[str]]], field_prefix: str = "body"
) -> int:
    """Replace who is on duty for each (day, area) given; the number of duties written."""
    for _, area, _ in days:
        require_admin(p, area)
    written = 0
    async with ctx.pool.acquire() as con, con.transaction():
        await _check_areas(con, [(f"{field_prefix}.area_id", area) for _, area, _ in days])
        subs = sorted({s for _, _, people in days for s in people})
        known = {r["sub"] for r in await con.fetch(queries.KNOWN_SUBS, subs)}
        unknown = [s for s in subs if s not in known]
        if unknown:
            raise InvalidInput(f"{field_prefix}.subs", f"{unknown[0]!r} is not in the staff directory")
        for day, area, people in days:
            await con.execute(queries.SET_ROSTER_DAY, day, area)
            await con.execute(queries.INSERT_ROSTER, day, area, list(people))
            written += len(set(people))
    return written


async def list_roster(ctx: Context, p: Principal, start: date, end: date) -> list[dict[str, Any]]:
    require_reader(p)
    if (end - start).days > 92:
        raise InvalidInput("query.to", "at most 92 days")
    async with ctx.pool.acquire() as con:
        rows = await con.fetch(queries.LIST_ROSTER, start, end, p.visible_areas())
    return [dict(r) for r in rows]


# -- robots --------------------------------------------------------------------------------------------------------


def check_robot_url(url: str, allowed_hosts: Sequence[str], development: bool) -> None:
    parts = urlsplit(url)
    host = parts.hostname or ""
    loopback = host in ("127.0.0.1", "localhost", "::1")
    if parts.scheme not in ("https", "http") or (parts.scheme == "http" and not (development and loopback)):
        raise InvalidInput("body.url", "must be an https:// webhook URL")
    if not (host in allowed_hosts or (development and loopback)):
        raise InvalidInput("body.url", f"host {host!r} is not an allowed robot host ({', '.join(allowed_hosts)})")


async def add_robot(
    ctx: Context, p: Principal, kind: str, area_id: str, label: str, url: str, secret: str | None
) -> dict[str, Any]:
    require_admin(p, area_id)
    check_robot_url(url, ctx.config.robot_hosts_list, ctx.config.development)
    async with ctx.pool.acquire() as con, con.transaction():
        await _check_areas(con, [("body.area_id", area_id)])
        row = await con.fetchrow(queries.INSERT_ROBOT, kind, area_id, label, url, secret)
    return dict(row) if row else {}


async def list_robots(ctx: Context, p: Principal) -> list[dict[str, Any]]:
    require_admin(p)
    async with ctx.pool.acquire() as con:
        return [dict(r) for r in await con.fetch(queries.LIST_ROBOTS, p.visible_areas())]


async def remove_robot(ctx: Context, p: Principal, robot_id: int) -> None:
    require_admin(p)
    async with ctx.pool.acquire() as con:
        if await con.fetchval(queries.DEACTIVATE_ROBOT, robot_id, p.visible_areas()) is None:
            raise NotFound(f"no robot {robot_id}")


# -- preferences ---------------------------------------------------------------------------------------------------


async def get_preferences(ctx: Context, p: Principal) -> dict[str, Any]:
    async with ctx.pool.acquire() as con:
        row = await con.fetchrow(queries.PREFERENCES_OF, p.sub)
    return _preferences_out(row)


async def set_preferences(
    ctx: Context, p: Principal, channels: dict[str, list[str]], quiet: tuple[time, time] | None
) -> dict[str, Any]:
    for kind, chosen in channels.items():
        if kind not in {k.value for k in Kind}:
            raise InvalidInput(
                f"body.channels.{kind}", f"not a kind of notification; use {', '.join(k.value for k in Kind)}"
            )
        bad = [c for c in chosen if c not in PERSONAL_CHANNELS]
        if bad:
            raise InvalidInput(f"body.channels.{kind}", f"{bad[0]!r} is not a channel; use in_app, sms or email")
    if quiet is not None and quiet[0] == quiet[1]:
        raise InvalidInput("body.quiet_hours", "start and end must differ")
    start, end = quiet if quiet else (None, None)
    async with ctx.pool.acquire() as con:
        row = await con.fetchrow(queries.UPSERT_PREFERENCES, p.sub, channels, start, end)
    return _preferences_out(row)


def _preferences_out(row: asyncpg.Record | None) -> dict[str, Any]:
    if row is None:
        return {"channels": {}, "quiet_hours": None}
    channels = row["channels"]
    quiet = (
        {"start": row["quiet_start"].strftime("%H:%M"), "end": row["quiet_end"].strftime("%H:%M")}
        if row["quiet_start"] is not None
        else None
    )
    return {"channels": channels, "quiet_hours": quiet}

"""The notifications HTTP API: staff directory, on-duty roster, group robots (town administrators); the signed-in
person's preferences, inbox and its event stream; the delivery log for staff."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response
from fastapi.responses import StreamingResponse

from gov_contracts.errors import InvalidInput
from gov_contracts.vocabulary import LOCAL_TZ
from govkit.auth import CurrentPrincipal
from govkit.openapi import problems
from notifications import deliveries, directory, imports, inbox
from notifications.api.deps import CsvBody, Hub, ServiceContext
from notifications.api.schemas import (
    DeliveryPage,
    ImportResult,
    Inbox,
    KindName,
    PreferencesIn,
    PreferencesRead,
    ReadMark,
    RobotIn,
    RobotList,
    RobotRead,
    RosterDay,
    RosterList,
    RosterWritten,
    StaffIn,
    StaffList,
    StaffRead,
    StaffRole,
)
from notifications.directory import StaffEntry

router = APIRouter(prefix="/v1", tags=["notifications"])
STAFF_CSV = "sub,name,role,area_id,unit,phone,email\nta-zhang,张伟,town_admin,changping,,13800001111,zw@example.cn\n"
ROSTER_CSV = "day,area_id,sub\n2026-12-01,changping,ta-zhang\n"
CSV_BODY = {"requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}}


def _entry(body: StaffIn) -> StaffEntry:
    return StaffEntry(body.sub, body.name, body.role, body.area_id, body.unit, body.phone, body.email, body.active)


@router.post(
    "/staff",
    status_code=201,
    response_model=StaffRead,
    responses=problems(403, 422),
    summary="Add or update a staff member of the directory (town_admin)",
)
async def put_staff(body: StaffIn, ctx: ServiceContext, p: CurrentPrincipal, response: Response) -> dict[str, Any]:
    created = await directory.save_staff(ctx, p, [_entry(body)])
    response.status_code = 201 if created else 200
    return directory.public_staff({**body.model_dump(), "phone": body.phone, "email": body.email}, with_contacts=False)


@router.post(
    "/staff/import",
    response_model=ImportResult,
    responses=problems(403, 413, 415, 422),
    summary="Import the staff directory from CSV (UTF-8 or GBK; English or Chinese headers); all or nothing",
    description="Columns sub/账号, name/姓名, role/角色, area_id/区域, unit/单位, phone/手机, email/邮箱. "
    "Example:\n\n```\n" + STAFF_CSV + "```",
    openapi_extra=CSV_BODY,
)
async def import_staff(body: CsvBody, ctx: ServiceContext, p: CurrentPrincipal) -> ImportResult:
    entries = imports.staff(body)
    created = await directory.save_staff(ctx, p, entries, field_prefix="file.rows")
    return ImportResult(created=created, updated=len(entries) - created)


@router.get("/staff", response_model=StaffList, summary="The staff directory of the caller's areas")
async def list_staff(
    ctx: ServiceContext,
    p: CurrentPrincipal,
    role: StaffRole | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    return {"items": await directory.list_staff(ctx, p, role, limit)}


@router.get("/staff/{sub}", response_model=StaffRead, responses=problems(404), summary="One staff member")
async def get_staff(sub: str, ctx: ServiceContext, p: CurrentPrincipal) -> dict[str, Any]:
    return await directory.get_staff(ctx, p, sub)


@router.put(
    "/roster",
    response_model=RosterWritten,
    responses=problems(403, 422),
    summary="Set who is on duty (值班) for areas and days; each (day, area) given is replaced",
)
async def put_roster(body: list[RosterDay], ctx: ServiceContext, p: CurrentPrincipal) -> RosterWritten:
    if not body or len(body) > 400:
        raise InvalidInput("body", "give 1 to 400 days")
    n = await directory.set_roster(ctx, p, [(d.day, d.area_id, d.subs) for d in body])
    return RosterWritten(duties=n)


@router.post(
    "/roster/import",
    response_model=RosterWritten,
    responses=problems(403, 413, 415, 422),
    summary="Import the roster from CSV (day/日期, area_id/区域, sub/账号); each (day, area) is replaced",
    description="Example:\n\n```\n" + ROSTER_CSV + "```",
    openapi_extra=CSV_BODY,
)
async def import_roster(body: CsvBody, ctx: ServiceContext, p: CurrentPrincipal) -> RosterWritten:
    return RosterWritten(duties=await directory.set_roster(ctx, p, imports.roster(body), field_prefix="file"))


@router.get(
    "/roster",
    response_model=RosterList,
    responses=problems(422),
    summary="The roster of the caller's areas (default: today and the next 6 days)",
)
async def get_roster(
    ctx: ServiceContext,
    p: CurrentPrincipal,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
) -> dict[str, Any]:
    first = start or datetime.now(LOCAL_TZ).date()
    last = end or first + timedelta(days=6)
    if last < first:
        raise InvalidInput("query.to", "must not be before from")
    return {"items": await directory.list_roster(ctx, p, first, last)}


@router.post(
    "/robots",
    status_code=201,
    response_model=RobotRead,
    responses=problems(403, 422),
    summary="Register a WeCom or DingTalk group robot for an area (town_admin)",
)
async def add_robot(body: RobotIn, ctx: ServiceContext, p: CurrentPrincipal) -> dict[str, Any]:
    return await directory.add_robot(ctx, p, body.kind, body.area_id, body.label, body.url, body.secret)


@router.get(
    "/robots",
    response_model=RobotList,
    responses=problems(403),
    summary="Group robots of the caller's areas (URLs and secrets are never shown)",
)
async def list_robots(ctx: ServiceContext, p: CurrentPrincipal) -> dict[str, Any]:
    return {"items": await directory.list_robots(ctx, p)}


@router.delete("/robots/{robot_id}", status_code=204, responses=problems(403, 404), summary="Retire a robot")
async def remove_robot(
    robot_id: Annotated[int, Path(ge=1, le=2**62)], ctx: ServiceContext, p: CurrentPrincipal
) -> Response:
    await directory.remove_robot(ctx, p, robot_id)
    return Response(status_code=204)


@router.get("/me/preferences", response_model=PreferencesRead, summary="My channels per kind and quiet hours")
async def my_preferences(ctx: ServiceContext, p: CurrentPrincipal) -> dict[str, Any]:
    return await directory.get_preferences(ctx, p)


@router.put(
    "/me/preferences",
    response_model=PreferencesRead,
    responses=problems(422),
    summary="Choose my channels per kind and my quiet hours; urgent kinds still reach me",
)
async def set_my_preferences(body: PreferencesIn, ctx: ServiceContext, p: CurrentPrincipal) -> dict[str, Any]:
    quiet = (body.quiet_hours.start, body.quiet_hours.end) if body.quiet_hours else None
    return await directory.set_preferences(ctx, p, {k: list(v) for k, v in body.channels.items()}, quiet)


@router.get("/me/notifications", response_model=Inbox, summary="My in-app notifications, newest first")
async def my_notifications(
    ctx: ServiceContext, p: CurrentPrincipal, unread: bool = False, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> dict[str, Any]:
    return await inbox.my_notifications(ctx, p, unread, limit)


@router.post(
    "/me/notifications/{notification_id}/read",
    response_model=ReadMark,
    responses=problems(404),
    summary="Mark one of my notifications read",
)
async def mark_read(notification_id: uuid.UUID, ctx: ServiceContext, p: CurrentPrincipal) -> dict[str, Any]:
    return await inbox.mark_read(ctx, p, notification_id)


@router.get(
    "/me/notifications/stream",
    summary="My new in-app notifications as server-sent events (text/event-stream)",
    description="Each event is `event: notification` with the item as JSON and its id; send Last-Event-ID to "
    "resume after a reconnect. A comment line every 15 s keeps proxies from closing the stream.",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
async def stream(
    ctx: ServiceContext, hub: Hub, p: CurrentPrincipal, last_event_id: Annotated[str | None, Header()] = None
) -> StreamingResponse:
    return StreamingResponse(
        inbox.stream(ctx, hub, p, last_event_id),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


def _cursor(value: str | None) -> tuple[datetime, uuid.UUID] | None:
    if not value:
        return None
    try:
        at, _, ident = value.partition("_")
        return datetime.fromisoformat(at), uuid.UUID(ident)
    except ValueError:
        raise InvalidInput("query.cursor", "not a cursor this API gave") from None


@router.get(
    "/notifications",
    response_model=DeliveryPage,
    responses=problems(403, 422),
    summary="What was sent about a case or task: the delivery log of the caller's areas, newest first",
)
async def delivery_log(
    ctx: ServiceContext,
    p: CurrentPrincipal,
    case_id: uuid.UUID | None = None,
    task_id: uuid.UUID | None = None,
    kind: KindName | None = None,
    status: Annotated[str | None, Query(pattern="^(queued|sending|sent|failed|skipped|read)$")] = None,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    rows = await deliveries.log_of(
        ctx, p, case_id=case_id, task_id=task_id, kind=kind, status=status, before=_cursor(cursor), limit=limit
    )
    items = [{**r, "id": str(r["id"]), "case_id": _s(r["case_id"]), "task_id": _s(r["task_id"])} for r in rows]
    last = rows[-1] if len(rows) == limit else None
    return {"items": items, "next_cursor": f"{last['created_at'].isoformat()}_{last['id']}" if last else None}


def _s(value: object) -> str | None:
    return str(value) if value is not None else None

"""The volunteers HTTP API: registry, tasks, offers, check-in/out, ledger."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query

from govkit.auth import CurrentPrincipal
from govkit.openapi import problems
from volunteers import access, registry, service
from volunteers.api.deps import ServiceContext, parse_uuid
from volunteers.api.schemas import (
    Cancel,
    Correction,
    Decline,
    LeaveCreate,
    LedgerRead,
    OfferRead,
    TaskCreate,
    TaskPage,
    TaskRead,
    VolunteerCreate,
    VolunteerRead,
)
from volunteers.context import Context
from volunteers.domain.registry import NewVolunteer
from volunteers.domain.tasks import NewTask

router = APIRouter(prefix="/v1", tags=["volunteers"])
# valid task types depend on the dispatch configuration: the OpenAPI enum lists them all
TASK_422: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "Invalid request, naming the field; also a `task_type` the dispatch configuration "
        "(VOLUNTEERS_DISPATCH_FILE, default_skills) does not define, or a `grid_id` the "
        "area tree does not hold"
    }
}


def volunteer_read(ctx: Context, row: Any, personal: bool = False) -> VolunteerRead:
    return VolunteerRead(
        id=str(row["id"]),
        volunteer_ref=ctx.vref(row["id"]),
        roles=list(row["roles"]),
        party_branch=row["party_branch"],
        home_grid=row["home_grid"],
        skills=list(row["skills"]),
        availability=row["availability"],
        max_concurrent=row["max_concurrent"],
        active=row["active"],
        account_sub=row["account_sub"],
        name=row["name"] if personal else None,
        phone=row["phone"] if personal else None,
    )


def task_read(row: Any, offers: list[dict] | None = None, assignments: list[dict] | None = None) -> TaskRead:
    return TaskRead(
        id=str(row["id"]),
        task_type=row["task_type"],
        title=row["title"],
        grid_id=row["grid_id"],
        window_start=row["window_start"],
        window_end=row["window_end"],
        required_skills=list(row["required_skills"]),
        headcount=row["headcount"],
        urgent=row["urgent"],
        origin=row["origin"],
        case_id=str(row["case_id"]) if row["case_id"] else None,
        status=row["status"],
        scope_level=row["scope_level"],
        created_at=row["created_at"],
        offers=offers,
        assignments=assignments,
    )


def offer_read(row: Any) -> OfferRead:
    keys = ("task_type", "title", "grid_id", "window_start", "window_end")
    return OfferRead(
        id=str(row["id"]),
        task_id=str(row["task_id"]),
        status=row["status"],
        rank=row["rank"],
        offered_at=row["offered_at"],
        expires_at=row["expires_at"],
        **{k: row[k] for k in keys if k in row.keys()},  # noqa: SIM118 - `in` on a Record looks at values
    )


def ledger_read(book: registry.Ledger) -> LedgerRead:
    return LedgerRead(
        hours=book.totals["hours"],
        points=book.totals["points"],
        entries=[
            {
                "task_id": str(e["task_id"]) if e["task_id"] else None,
                "kind": e["kind"],
                "hours": float(e["hours"]),
                "points": e["points"],
                "actor": e["actor"],
                "reason": e["reason"],
                "at": e["at"].isoformat(),
            }
            for e in book.entries
        ],
    )


def task_detail_read(detail: service.TaskDetail) -> TaskRead:
    if detail.offers is None or detail.assignments is None:
        return task_read(detail.task)
    return task_read(
        detail.task,
        [
            {
                "volunteer_id": str(o["volunteer_id"]),
                "status": o["status"],
                "rank": o["rank"],
                "offered_at": o["offered_at"].isoformat(),
                "expires_at": o["expires_at"].isoformat(),
                "reason": o["reason"],
            }
            for o in detail.offers
        ],
        [
            {
                "volunteer_id": str(a["volunteer_id"]),
                "status": a["status"],
                "hours": float(a["hours"]) if a["hours"] is not None else None,
                "points": a["points"],
            }
            for a in detail.assignments
        ],
    )


# -- registry -----------------------------------------------------------------------------------------------------


@router.post(
    "/volunteers",
    status_code=201,
    response_model=VolunteerRead,
    summary="Register a volunteer (登记)",
    operation_id="registerVolunteer",
    responses={
        409: {"description": "account_sub or external_id registered already"},
        422: {"description": "Invalid request, naming the field; also a `home_grid` the area tree does not hold"},
    },
)
async def register(body: VolunteerCreate, ctx: ServiceContext, principal: CurrentPrincipal) -> VolunteerRead:
    access.require_staff(principal, body.home_grid)
    row = await registry.register(
        ctx,
        NewVolunteer(
            **body.model_dump(exclude={"availability"}), availability=[w.model_dump() for w in body.availability]
        ),
    )
    return volunteer_read(ctx, row)


@router.get(
    "/volunteers/me",
    response_model=VolunteerRead,
    summary="The caller's own volunteer record",
    operation_id="getMyVolunteer",
    responses=problems(404),
)
async def me(ctx: ServiceContext, principal: CurrentPrincipal) -> VolunteerRead:
    return volunteer_read(ctx, await registry.my_record(ctx, principal), personal=True)


@router.get(
    "/volunteers/{volunteer_id}",
    response_model=VolunteerRead,
    summary="One volunteer; name and phone only with personal_data:read (audited)",
    responses=problems(404),
)
async def get_volunteer(volunteer_id: str, ctx: ServiceContext, principal: CurrentPrincipal) -> VolunteerRead:
    view = await registry.read_volunteer(ctx, parse_uuid(volunteer_id, "path.volunteer_id"), principal)
    return volunteer_read(ctx, view.row, view.personal)


@router.post(
    "/volunteers/{volunteer_id}/leave",
    status_code=204,
    summary="Record leave (请假)",
    operation_id="recordLeave",
    responses=problems(404),
)
async def leave(volunteer_id: str, body: LeaveCreate, ctx: ServiceContext, principal: CurrentPrincipal) -> None:
    await registry.add_leave(
        ctx, parse_uuid(volunteer_id, "path.volunteer_id"), body.starts_at, body.ends_at, body.reason, principal
    )


@router.get(
    "/volunteers/{volunteer_id}/ledger",
    response_model=LedgerRead,
    summary="Hours and points ledger",
    operation_id="getLedger",
    responses=problems(404),
)
async def ledger(volunteer_id: str, ctx: ServiceContext, principal: CurrentPrincipal) -> LedgerRead:
    return ledger_read(await registry.ledger(ctx, parse_uuid(volunteer_id, "path.volunteer_id"), principal))


@router.post(
    "/volunteers/{volunteer_id}/corrections",
    response_model=LedgerRead,
    summary="Correct hours or points (admins only; recorded in the ledger with who and why)",
    operation_id="correctLedger",
    responses=problems(404, 409),
)
async def correct(volunteer_id: str, body: Correction, ctx: ServiceContext, principal: CurrentPrincipal) -> LedgerRead:
    access.require_roles(principal, access.ADMINS, "corrections need")
    vid = parse_uuid(volunteer_id, "path.volunteer_id")
    await registry.correct_hours(
        ctx,
        vid,
        task_id=parse_uuid(body.task_id, "body.task_id") if body.task_id else None,
        hours_delta=body.hours_delta,
        points_delta=body.points_delta,
        reason=body.reason,
        principal=principal,
    )
    return ledger_read(await registry.ledger(ctx, vid, principal))


# -- tasks --------------------------------------------------------------------------------------------------------


@router.post(
    "/tasks",
    status_code=201,
    response_model=TaskRead,
    summary="Create a task and dispatch it (派单)",
    responses=TASK_422,
)
async def create_task(
    body: TaskCreate,
    ctx: ServiceContext,
    principal: CurrentPrincipal,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> TaskRead:
    access.require_staff(principal, body.grid_id)
    origin_ref = f"{principal.sub}:{idempotency_key}" if idempotency_key else None
    return task_read(
        await service.create_manual_task(ctx, NewTask(**body.model_dump(), origin="manual", origin_ref=origin_ref))
    )


@router.get("/tasks", response_model=TaskPage, summary="Tasks in the caller's areas, or a volunteer's own")
async def list_tasks(
    ctx: ServiceContext,
    principal: CurrentPrincipal,
    status: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> TaskPage:
    rows, next_cursor = await service.list_tasks(ctx, principal, status=status, cursor=cursor, limit=limit)
    return TaskPage(items=[task_read(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/tasks/{task_id}",
    response_model=TaskRead,
    summary="One task with its offers and assignments",
    responses=problems(404),
)
async def get_task(task_id: str, ctx: ServiceContext, principal: CurrentPrincipal) -> TaskRead:
    return task_detail_read(await service.task_detail(ctx, parse_uuid(task_id, "path.task_id"), principal))


@router.post(
    "/tasks/{task_id}/cancel",
    response_model=TaskRead,
    summary="Cancel a task",
    operation_id="cancelTask",
    responses=problems(404, 409),
)
async def cancel(task_id: str, body: Cancel, ctx: ServiceContext, principal: CurrentPrincipal) -> TaskRead:
    access.require_roles(principal, access.STAFF)
    return task_read(await service.cancel_task(ctx, parse_uuid(task_id, "path.task_id"), body.reason, principal))


@router.post(
    "/tasks/{task_id}/check-in",
    response_model=None,
    summary="Check in on an assigned task (签到)",
    responses=problems(404, 409),
)
async def check_in(task_id: str, ctx: ServiceContext, principal: CurrentPrincipal) -> dict[str, Any]:
    a = await service.check_in(ctx, parse_uuid(task_id, "path.task_id"), principal)
    return {"task_id": task_id, "status": a["status"], "checked_in_at": a["checked_in_at"]}


@router.post(
    "/tasks/{task_id}/check-out",
    response_model=None,
    summary="Check out: hours and points are credited (签退)",
    responses=problems(404, 409),
)
async def check_out(task_id: str, ctx: ServiceContext, principal: CurrentPrincipal) -> dict[str, Any]:
    a = await service.check_out(ctx, parse_uuid(task_id, "path.task_id"), principal)
    return {"task_id": task_id, "status": a["status"], "hours": float(a["hours"]), "points": a["points"]}


# -- offers -------------------------------------------------------------------------------------------------------


@router.get("/offers", response_model=list[OfferRead], summary="The caller's own offers", operation_id="listMyOffers")
async def my_offers(ctx: ServiceContext, principal: CurrentPrincipal, status: str | None = None) -> list[OfferRead]:
    return [offer_read(r) for r in await service.my_offers(ctx, principal, status)]


@router.post(
    "/offers/{offer_id}/accept",
    response_model=OfferRead,
    summary="Accept an offer (接单)",
    operation_id="acceptOffer",
    responses=problems(404, 409),
)
async def accept(offer_id: str, ctx: ServiceContext, principal: CurrentPrincipal) -> OfferRead:
    return offer_read(await service.respond(ctx, parse_uuid(offer_id, "path.offer_id"), True, None, principal))


NO_REASON = Decline()  # an empty body: declined without a reason


@router.post(
    "/offers/{offer_id}/decline",
    response_model=OfferRead,
    summary="Decline an offer; it passes on",
    operation_id="declineOffer",
    responses=problems(404, 409),
)
async def decline(
    offer_id: str, ctx: ServiceContext, principal: CurrentPrincipal, body: Decline = NO_REASON
) -> OfferRead:
    return offer_read(await service.respond(ctx, parse_uuid(offer_id, "path.offer_id"), False, body.reason, principal))
